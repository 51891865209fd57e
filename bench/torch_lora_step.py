"""PyTorch side of the lora_step rows: one LoRA training step of a Llama with random weights.

Usage: python3 torch_lora_step.py '{"L":22,"d":2048,"F":5632,"H":32,"KV":4,"V":32000,"T":512,"B":1,
                                    "base":32,"compute":16,"ckpt":0,"r":16}' [warmup] [steps]
Prints {"torch", "threads", "ms", "tokens_per_s", "peak_rss_mb", "build_s", "losses"} as JSON on stdout.

The model is Llama's architecture in plain torch (the transformers package is not installed), as HF's
modeling_llama computes it: RMSNorm, rotate-half RoPE, grouped-query attention as matmul + causal mask +
softmax (torch 1.13 has no scaled_dot_product_attention), a SiLU-gated MLP, an untied LM head. Every
linear layer of the blocks carries a LoRA adapter written as HF peft's lora.Linear computes it:
base(x) + lora_B(lora_A(dropout(x))) * scaling, dropout 0, base frozen. A step is zero_grad, forward,
next-token cross-entropy, backward, AdamW(lr 1e-4) over the adapters.

compute 16 runs forward and backward under torch.autocast("cpu", dtype=torch.bfloat16) over float32
weights, as users write mixed-precision training on the CPU (its matmuls are oneDNN's AVX512_BF16 kernels
where the CPU has them). ckpt 1 wraps each block in torch.utils.checkpoint. bench/lora_step.ts is the
peftjs side.

"family" (the family_step rows; llama when absent) switches to the other decoders of bench/family_model.ts,
as transformers' modeling files compute them: qwen3 (Qwen3Attention's q_norm / k_norm, RMSNorms over
head_dim on the [B, T, H, head_dim] view before RoPE; untied head), gemma2 (embeddings times sqrt(d),
GemmaRMSNorm's (1 + weight), query_pre_attn_scalar = head_dim, attention soft-cap 50 before the mask,
post-attention and pre/post-feedforward norms, gelu-tanh gate, final logit soft-cap 30, head tied to the
embeddings; its sliding window, 4096 on even layers, hides nothing at T <= 4096, so it is left out) and
phi3 (Phi3Attention's fused qkv_proj and Phi3MLP's gate_up_proj, one LoRA adapter each, as HF peft puts
them). The base weights are random: the row times the step, it does not check numbers.
"""
import json
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.utils.checkpoint

from torch_steps import time_steps

torch.set_num_threads(2)
torch.manual_seed(0)


class LoraLinear(nn.Module):
    def __init__(self, inf, outf, r):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(outf, inf) * 0.02, requires_grad=False)
        self.lora_A = nn.Linear(inf, r, bias=False)
        self.lora_B = nn.Linear(r, outf, bias=False)
        nn.init.zeros_(self.lora_B.weight)
        self.scaling = 2.0

    def forward(self, x):
        return F.linear(x, self.weight) + self.lora_B(self.lora_A(x)) * self.scaling


class RMSNorm(nn.Module):
    """LlamaRMSNorm; gemma: GemmaRMSNorm, x * rsqrt(mean x^2 + eps) * (1 + weight) in float32."""

    def __init__(self, d, eps=1e-6, gemma=False):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(d) if gemma else torch.ones(d), requires_grad=False)
        self.eps, self.gemma = eps, gemma

    def forward(self, x):
        x32 = x.float()
        normed = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)
        if self.gemma:
            return (normed * (1.0 + self.weight.float())).type_as(x)
        return normed.to(x.dtype) * self.weight


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


class Block(nn.Module):
    def __init__(self, s):
        super().__init__()
        d, self.h, self.kv, r, f = s["d"], s["H"], s["KV"], s["r"], s["F"]
        self.family = s.get("family", "llama")
        self.hd = d // self.h
        gemma = self.family == "gemma2"
        eps = 1e-5 if self.family == "phi3" else 1e-6
        kvw = self.kv * self.hd
        self.input_layernorm = RMSNorm(d, eps, gemma)
        if self.family == "phi3":
            self.qkv_proj = LoraLinear(d, d + 2 * kvw, r)
            self.gate_up_proj = LoraLinear(d, 2 * f, r)
        else:
            self.q_proj = LoraLinear(d, d, r)
            self.k_proj = LoraLinear(d, kvw, r)
            self.v_proj = LoraLinear(d, kvw, r)
            self.gate_proj = LoraLinear(d, f, r)
            self.up_proj = LoraLinear(d, f, r)
        if self.family == "qwen3":
            self.q_norm = RMSNorm(self.hd, eps)
            self.k_norm = RMSNorm(self.hd, eps)
        self.o_proj = LoraLinear(d, d, r)
        self.post_attention_layernorm = RMSNorm(d, eps, gemma)
        if gemma:
            self.pre_feedforward_layernorm = RMSNorm(d, eps, gemma)
            self.post_feedforward_layernorm = RMSNorm(d, eps, gemma)
        self.down_proj = LoraLinear(f, d, r)

    def qkv(self, h):
        if self.family == "phi3":
            kvw = self.kv * self.hd
            qkv = self.qkv_proj(h)
            return qkv[..., : self.h * self.hd], qkv[..., self.h * self.hd: self.h * self.hd + kvw], qkv[..., self.h * self.hd + kvw:]
        return self.q_proj(h), self.k_proj(h), self.v_proj(h)

    def mlp(self, h):
        if self.family == "phi3":
            gate, up = self.gate_up_proj(h).chunk(2, dim=-1)
            return self.down_proj(F.silu(gate) * up)
        gate = self.gate_proj(h)
        gate = F.gelu(gate, approximate="tanh") if self.family == "gemma2" else F.silu(gate)
        return self.down_proj(gate * self.up_proj(h))

    def forward(self, x, cos, sin, mask):
        B, T, d = x.shape
        h = self.input_layernorm(x)
        q, k, v = self.qkv(h)
        q, k = q.view(B, T, self.h, self.hd), k.view(B, T, self.kv, self.hd)
        if self.family == "qwen3":
            q, k = self.q_norm(q), self.k_norm(k)
        q, k = q.transpose(1, 2), k.transpose(1, 2)
        v = v.view(B, T, self.kv, self.hd).transpose(1, 2)
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        rep = self.h // self.kv
        k, v = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)
        att = (q @ k.transpose(-2, -1)) / self.hd ** 0.5
        if self.family == "gemma2":
            att = torch.tanh(att / 50.0) * 50.0
        att = torch.softmax((att + mask).float(), dim=-1).to(q.dtype)
        o = self.o_proj((att @ v).transpose(1, 2).reshape(B, T, d))
        if self.family == "gemma2":
            x = x + self.post_attention_layernorm(o)
            return x + self.post_feedforward_layernorm(self.mlp(self.pre_feedforward_layernorm(x)))
        x = x + o
        return x + self.mlp(self.post_attention_layernorm(x))


class Decoder(nn.Module):
    def __init__(self, s):
        super().__init__()
        self.family = s.get("family", "llama")
        self.embed_tokens = nn.Embedding(s["V"], s["d"])
        self.embed_tokens.weight.requires_grad_(False)
        nn.init.normal_(self.embed_tokens.weight, std=0.02)
        self.layers = nn.ModuleList(Block(s) for _ in range(s["L"]))
        self.norm = RMSNorm(s["d"], 1e-5 if self.family == "phi3" else 1e-6, self.family == "gemma2")
        self.lm_head = None
        if self.family != "gemma2":  # Gemma 2 ties its head to the embeddings
            self.lm_head = nn.Linear(s["d"], s["V"], bias=False)
            self.lm_head.weight.requires_grad_(False)
            nn.init.normal_(self.lm_head.weight, std=0.02)
        self.ckpt = bool(s["ckpt"])
        hd = s["d"] // s["H"]
        inv = 1.0 / (10000 ** (torch.arange(0, hd, 2).float() / hd))
        freqs = torch.outer(torch.arange(s["T"]).float(), inv)
        emb = torch.cat((freqs, freqs), dim=-1)
        self.cos, self.sin = emb.cos(), emb.sin()
        self.mask = torch.full((s["T"], s["T"]), float("-inf")).triu(1)

    def forward(self, ids):
        x = self.embed_tokens(ids)
        if self.family == "gemma2":
            x = x * torch.tensor(x.shape[-1] ** 0.5, dtype=x.dtype)
        for layer in self.layers:
            if self.ckpt:
                x = torch.utils.checkpoint.checkpoint(layer, x, self.cos, self.sin, self.mask, use_reentrant=False)
            else:
                x = layer(x, self.cos, self.sin, self.mask)
        x = self.norm(x)
        if self.lm_head is None:
            return torch.tanh(F.linear(x, self.embed_tokens.weight) / 30.0) * 30.0
        return self.lm_head(x)


def main():
    s = json.loads(sys.argv[1])
    warmup = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    steps = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    t0 = time.perf_counter()
    model = Decoder(s)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4)
    ids = torch.randint(0, s["V"], (s["B"], s["T"]))
    build_s = time.perf_counter() - t0

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=s["compute"] == 16):
            logits = model(ids)
            loss = F.cross_entropy(logits[:, :-1].reshape(-1, s["V"]).float(), ids[:, 1:].reshape(-1))
        loss.backward()
        opt.step()
        return loss.item()

    time_steps(step, warmup, steps, s["B"] * s["T"], build_s=build_s)


if __name__ == "__main__":
    main()
