"""PyTorch side of the train_step benchmark row: one full fine-tuning step of a small GPT-2.

Usage: python3 torch_train_step.py '{"L":6,"H":8,"d":512,"V":8192,"T":256,"B":8}' [warmup] [steps]
Prints {"torch", "threads", "ms", "tokens_per_s", "peak_rss_mb", "losses"} as JSON on stdout.

The model is GPT-2's architecture in plain torch (the transformers package is not installed), written the
way HF's modeling_gpt2 computes it: learned positions, pre-LN blocks with one fused qkv projection,
causal attention as explicit matmul + mask + softmax (torch 1.13 has no scaled_dot_product_attention),
a tanh-GELU MLP of width 4d, a final LayerNorm and an LM head tied to wte. Dropout is 0, as in the
peftjs row. A step is zero_grad, forward, next-token cross-entropy, backward, AdamW(lr 1e-4).

bench/torch.ts runs this script in a fresh process per row, so ru_maxrss is this training's own peak
(torch's libraries included, as node's are in the peftjs child).
"""
import json
import math
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

from torch_steps import time_steps

torch.set_num_threads(2)
torch.manual_seed(0)


class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.ln_1 = nn.LayerNorm(d, eps=1e-5)
        self.c_attn = nn.Linear(d, 3 * d)
        self.attn_proj = nn.Linear(d, d)
        self.ln_2 = nn.LayerNorm(d, eps=1e-5)
        self.c_fc = nn.Linear(d, 4 * d)
        self.mlp_proj = nn.Linear(4 * d, d)

    def attention(self, x, mask):
        b, t, d = x.shape
        hd = d // self.heads
        q, k, v = self.c_attn(x).split(d, dim=2)
        q, k, v = (z.view(b, t, self.heads, hd).transpose(1, 2) for z in (q, k, v))
        scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hd))
        probs = scores.masked_fill(mask, float("-inf")).softmax(dim=-1)
        a = (probs @ v).transpose(1, 2).reshape(b, t, d)
        return self.attn_proj(a)

    def forward(self, x, mask):
        x = x + self.attention(self.ln_1(x), mask)
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


class GPT(nn.Module):
    def __init__(self, L, H, d, V, T):
        super().__init__()
        self.wte = nn.Embedding(V, d)
        self.wpe = nn.Embedding(T, d)
        self.h = nn.ModuleList([Block(d, H) for _ in range(L)])
        self.ln_f = nn.LayerNorm(d, eps=1e-5)
        # GPT-2's init: N(0, 0.02), residual projections scaled by 1/sqrt(2 L), zero biases.
        for name, p in self.named_parameters():
            if name.endswith("bias"):
                nn.init.zeros_(p)
            elif p.dim() >= 2:
                std = 0.02 / math.sqrt(2 * L) if name.endswith("proj.weight") else 0.02
                nn.init.normal_(p, std=std)
        self.register_buffer("mask", torch.ones(T, T, dtype=torch.bool).triu(1), persistent=False)

    def forward(self, ids):
        b, t = ids.shape
        x = self.wte(ids) + self.wpe(torch.arange(t))
        mask = self.mask[:t, :t]
        for block in self.h:
            x = block(x, mask)
        return F.linear(self.ln_f(x), self.wte.weight)  # the LM head, tied to wte


def main():
    s = json.loads(sys.argv[1])
    warmup = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    steps = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    B, T, V = s["B"], s["T"], s["V"]
    model = GPT(s["L"], s["H"], s["d"], V, T)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    ids = torch.randint(0, V, (B, T))

    def step():
        opt.zero_grad(set_to_none=True)
        logits = model(ids)
        loss = F.cross_entropy(logits[:, :-1].reshape(-1, V), ids[:, 1:].reshape(-1))
        loss.backward()
        opt.step()
        return loss.item()

    time_steps(step, warmup, steps, B * T)


if __name__ == "__main__":
    main()
