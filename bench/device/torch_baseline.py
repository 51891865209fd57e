"""PyTorch's side of the device check (bench/device/run.sh runs it; time_ops.ts is peftjs's side, merge.py
sets the two side by side).

  gemm  y = x W^T with x [M, K], W [N, K] (the shapes of time_ops.ts): float32 (TF32 off), TF32, bf16 (bf16 in
        and out, as torch runs a bf16 model), and bf16_from_fp32 (float32 x cast to bf16 each call, a bf16
        weight, float32 out: what peftjs's bf16 GEMM computes). Outputs are poisoned with NaN first and 32
        sampled entries are checked against float64 dot products.
  lora  HF peft's LoRA on an nn.Linear(4096, 4096) (r = 16, alpha 32, dropout 0), forward + backward with
        dx, against the same frozen base layer, timed alternately in pairs; float32 and bf16 bases.
  step  transformers' LlamaForCausalLM with TinyLlama-1.1B's config (random init on the GPU, bf16 weights,
        sdpa attention, no gradient checkpointing, use_cache off), peft LoRA r = 16 on q/k/v/o/gate/up/down
        (adapters in float32, as get_peft_model keeps them over a bf16 base), AdamW(lr 1e-4), sequence 2048,
        batch 4, labels = inputs: zero_grad, forward with the loss, backward, step.

Timing: torch.cuda.Event around a batch of calls (a batch lasts >= 20 ms), warm-up first, the median
reported; a training step is timed one step a sample. --dry-run uses tiny shapes (on the CPU when there is
no GPU, timed with perf_counter): it checks the script's logic, and its numbers mean nothing.

Usage: python3 torch_baseline.py [--out FILE] [--only gemm,lora,step] [--budget-s S] [--step-warmup N]
                                 [--step-steps N] [--dry-run]
"""
import argparse
import json
import math
import sys
import time

GEMMS = [
    ("4096^3", 4096, 4096, 4096),
    ("T8192 4096->4096", 8192, 4096, 4096),
    ("T8192 4096->11008", 8192, 11008, 4096),
    ("T8192 11008->4096", 8192, 4096, 11008),
    ("T8192 2048->5632", 8192, 5632, 2048),
    ("T8192 5632->2048", 8192, 2048, 5632),
    ("T8192 2048->32000", 8192, 32000, 2048),
]
DRY_GEMMS = [("dry 96x80x64", 96, 80, 64), ("dry T256 128->96", 256, 96, 128)]
LORA = {"T": 8192, "d": 4096, "r": 16}
DRY_LORA = {"T": 256, "d": 128, "r": 8}
# TinyLlama-1.1B's config (TinyLlama/TinyLlama-1.1B-intermediate-step-1431k-3T), sequence 2048, batch 4.
STEP = {"L": 22, "d": 2048, "F": 5632, "H": 32, "KV": 4, "V": 32000, "T": 2048, "B": 4, "r": 16}
DRY_STEP = {"L": 2, "d": 64, "F": 176, "H": 4, "KV": 2, "V": 512, "T": 32, "B": 2, "r": 4}
LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
TOLERANCE = {"fp32": 1e-4, "tf32": 5e-3, "bf16": 2e-2, "bf16_from_fp32": 2e-2}


def error_text(e):
    return (f"{type(e).__name__}: {e}".splitlines() or [""])[0][:500]


def set_tf32(torch, on):
    """TF32 for float32 matmuls on or off: the legacy allow_tf32 flag (only one API is ever used to set it, as
    torch >= 2.9 refuses to read a mix of the two), or fp32_precision where allow_tf32 is gone."""
    m = torch.backends.cuda.matmul
    try:
        m.allow_tf32 = on
        return "allow_tf32"
    except Exception:  # noqa: BLE001 - a torch without the legacy flag
        m.fp32_precision = "tf32" if on else "ieee"
        return "fp32_precision"


def median(xs):
    s = sorted(xs)
    mid = len(s) // 2
    return s[mid] if len(s) % 2 else (s[mid - 1] + s[mid]) / 2


class Clock:
    """Device time through CUDA events (or perf_counter on the CPU) around a region, synchronised at its end."""

    def __init__(self, torch, device):
        self.torch, self.cuda = torch, device == "cuda"

    def sync(self):
        if self.cuda:
            self.torch.cuda.synchronize()

    def region(self, fn, repeat=1):
        """ms of `repeat` calls of fn in one region."""
        if self.cuda:
            start, end = self.torch.cuda.Event(enable_timing=True), self.torch.cuda.Event(enable_timing=True)
            start.record()
            for _ in range(repeat):
                fn()
            end.record()
            end.synchronize()
            return start.elapsed_time(end)
        t0 = time.perf_counter()
        for _ in range(repeat):
            fn()
        return (time.perf_counter() - t0) * 1e3

    def time(self, fn, min_batch_ms, samples=7, budget_s=1.5, max_batch=200):
        self.sync()
        first = self.region(fn)
        est = max(self.region(fn), 1e-3)
        batch = max(1, min(max_batch, math.ceil(min_batch_ms / est)))
        xs = []
        t0 = time.perf_counter()
        while len(xs) < samples and (len(xs) < 3 or time.perf_counter() - t0 < budget_s):
            xs.append(self.region(fn, batch) / batch)
        return {"ms": median(xs), "min_ms": min(xs), "max_ms": max(xs), "samples": len(xs), "batch": batch, "first_ms": first}

    def pairs(self, a, b, pairs=9, budget_s=10.0):
        """a and b alternately, each its own region: medians of b / a and of each one's ms."""
        a(); b(); a(); b()
        self.sync()
        ra, rb, ratios = [], [], []
        t0 = time.perf_counter()
        while len(ratios) < pairs and (len(ratios) < 3 or time.perf_counter() - t0 < budget_s):
            ta, tb = self.region(a), self.region(b)
            ra.append(ta)
            rb.append(tb)
            ratios.append(tb / ta)
        return {"ratio": median(ratios), "a_ms": median(ra), "b_ms": median(rb), "pairs": len(ratios)}


def sample_positions(m, n, count):
    out = [(0, 0), (m - 1, n - 1), (0, n - 1), (m - 1, 0)]
    s = 0x9E3779B9
    while len(out) < count:
        s = (s * 1664525 + 1013904223) & 0xFFFFFFFF
        i = s % m
        s = (s * 1664525 + 1013904223) & 0xFFFFFFFF
        out.append((i, s % n))
    return out


def gemm_section(torch, clock, device, cases, min_batch_ms, deadline, rows, save):
    for name, m, n, k in cases:
        gen = torch.Generator(device=device).manual_seed(101)
        x = torch.randn(m, k, device=device, generator=gen)
        w = torch.randn(n, k, device=device, generator=gen)
        pos = sample_positions(m, n, 32)
        ri = torch.tensor([p[0] for p in pos], device=device)
        rj = torch.tensor([p[1] for p in pos], device=device)
        ref = (x[ri].double() * w[rj].double()).sum(1)
        rms = ref.pow(2).mean().sqrt().item()

        def err(c):
            got = c[ri, rj].double()
            if not torch.isfinite(got).all():
                return float("nan")
            return (got - ref).abs().max().item() / rms

        c32 = torch.empty(m, n, device=device)
        xb, wb = x.bfloat16(), w.bfloat16()
        cb = torch.empty(m, n, device=device, dtype=torch.bfloat16)
        holder = {}

        def mixed():
            holder["c"] = torch.mm(x.bfloat16(), wb.t()).float()

        variants = [
            ("fp32", False, lambda: torch.mm(x, w.t(), out=c32), lambda: c32),
            ("tf32", True, lambda: torch.mm(x, w.t(), out=c32), lambda: c32),
            ("bf16", False, lambda: torch.mm(xb, wb.t(), out=cb), lambda: cb),
            ("bf16_from_fp32", False, mixed, lambda: holder["c"]),
        ]
        for variant, tf32, fn, out in variants:
            row = {"shape": name, "m": m, "n": n, "k": k, "variant": variant}
            if time.perf_counter() > deadline:
                row["note"] = "skipped: time budget spent"
                rows.append(row)
                continue
            try:
                set_tf32(torch, tf32)
                c32.fill_(float("nan"))
                cb.fill_(float("nan"))
                t = clock.time(fn, min_batch_ms)
                row.update(timing=t, ms=t["ms"], tflops=2 * m * n * k / (t["ms"] * 1e-3) / 1e12, rel_err=err(out()))
                row["ok"] = math.isfinite(row["rel_err"]) and row["rel_err"] <= TOLERANCE[variant]
            except Exception as e:  # noqa: BLE001 - every failure is recorded, the rest goes on
                row["error"] = error_text(e)
            finally:
                set_tf32(torch, False)
            rows.append(row)
            print(f"gemm {name} {variant}: " + (row.get("error") or
                  f"{row['ms']:.3f} ms, {row['tflops']:.1f} TFLOP/s, err {row['rel_err']:.1e}"), file=sys.stderr, flush=True)
            save()


def lora_section(torch, clock, device, shape, budget_s):
    import torch.nn as nn
    from peft import LoraConfig, get_peft_model

    T, d, r = shape["T"], shape["d"], shape["r"]
    out = {"T": T, "d": d, "r": r}

    class Layer(nn.Module):
        def __init__(self, dtype):
            super().__init__()
            self.proj = nn.Linear(d, d, bias=True, device=device, dtype=dtype)

        def forward(self, x):
            return self.proj(x)

    for tag, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        try:
            set_tf32(torch, False)
            gen = torch.Generator(device=device).manual_seed(11)
            base = Layer(dtype)
            base.requires_grad_(False)
            tuned = Layer(dtype)
            tuned.load_state_dict(base.state_dict())
            tuned = get_peft_model(tuned, LoraConfig(r=r, lora_alpha=2 * r, lora_dropout=0.0, target_modules=["proj"]))
            params = [p for p in tuned.parameters() if p.requires_grad]
            x = torch.randn(T, d, device=device, dtype=dtype, generator=gen).requires_grad_(True)
            dy = torch.randn(T, d, device=device, dtype=dtype, generator=gen)

            def base_step():
                x.grad = None
                base(x).backward(dy)

            def lora_step():
                x.grad = None
                for p in params:
                    p.grad = None
                tuned(x).backward(dy)

            p = clock.pairs(base_step, lora_step, pairs=9, budget_s=budget_s / 2)
            out[tag] = {"base_ms": p["a_ms"], "lora_ms": p["b_ms"], "lora_over_base": p["ratio"], "pairs": p["pairs"],
                        "adapter_dtype": str(params[0].dtype).replace("torch.", "") if params else None}
            print(f"lora {tag}: base {p['a_ms']:.3f} ms, lora {p['b_ms']:.3f} ms (x{p['ratio']:.3f})", file=sys.stderr, flush=True)
        except Exception as e:  # noqa: BLE001
            out[tag] = {"error": error_text(e)}
            print(f"lora {tag} failed: {out[tag]['error']}", file=sys.stderr, flush=True)
    return out


def build_llama(torch, device, s, dtype):
    from transformers import AutoModelForCausalLM, LlamaConfig

    cfg = LlamaConfig(vocab_size=s["V"], hidden_size=s["d"], intermediate_size=s["F"], num_hidden_layers=s["L"],
                      num_attention_heads=s["H"], num_key_value_heads=s["KV"], max_position_embeddings=max(s["T"], 16),
                      rms_norm_eps=1e-5, tie_word_embeddings=False, use_cache=False)
    model, tried = None, []
    with torch.device(device):  # the weights are made (and initialised) on the GPU
        for kw in ("dtype", "torch_dtype"):  # transformers 5 renamed torch_dtype to dtype
            try:
                model = AutoModelForCausalLM.from_config(cfg, attn_implementation="sdpa", **{kw: dtype})
                break
            except Exception as e:  # noqa: BLE001 - the next spelling, then the plain constructor
                tried.append(f"from_config({kw}=): {error_text(e)}")
        if model is None:
            from transformers import LlamaForCausalLM
            try:
                cfg._attn_implementation = "sdpa"
            except Exception as e:  # noqa: BLE001
                tried.append(f"_attn_implementation: {error_text(e)}")
            model = LlamaForCausalLM(cfg)
    if tried:
        print("build: " + "; ".join(tried), file=sys.stderr, flush=True)
    return model.to(device=device, dtype=dtype)


def step_section(torch, clock, device, s, warmup, steps, budget_s):
    from peft import LoraConfig, get_peft_model

    out = {"shape": s, "base_dtype": "bfloat16"}
    t0 = time.perf_counter()
    torch.manual_seed(0)
    model = build_llama(torch, device, s, torch.bfloat16)
    out["attn_implementation"] = getattr(model.config, "_attn_implementation", None)
    model = get_peft_model(model, LoraConfig(r=s["r"], lora_alpha=2 * s["r"], lora_dropout=0.0, target_modules=LORA_TARGETS,
                                             task_type="CAUSAL_LM"))
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    out["trainable_params"] = sum(p.numel() for p in params)
    out["adapter_dtype"] = str(params[0].dtype).replace("torch.", "") if params else None
    out["gradient_checkpointing"] = bool(getattr(model, "is_gradient_checkpointing", False))
    opt = torch.optim.AdamW(params, lr=1e-4)
    gen = torch.Generator(device=device).manual_seed(1)
    ids = torch.randint(0, s["V"], (s["B"], s["T"]), device=device, generator=gen)
    clock.sync()
    out["build_s"] = time.perf_counter() - t0
    print(f"step: built in {out['build_s']:.1f} s ({out['trainable_params']} trainable, "
          f"attention {out['attn_implementation']})", file=sys.stderr, flush=True)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        opt.step()
        return loss.detach()

    losses = [step() for _ in range(warmup)]
    clock.sync()
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    xs = []
    t0 = time.perf_counter()
    while len(xs) < steps and (len(xs) < 1 or time.perf_counter() - t0 < budget_s):
        holder = {}
        xs.append(clock.region(lambda: holder.setdefault("loss", step())))
        losses.append(holder["loss"])
        print(".", end="", file=sys.stderr, flush=True)
    print("", file=sys.stderr)
    out.update(ms=median(xs), min_ms=min(xs), samples=len(xs), tokens_per_s=s["B"] * s["T"] / (median(xs) / 1e3),
               losses=[float(v) for v in losses])
    if device == "cuda":
        out["peak_mem_gib"] = torch.cuda.max_memory_allocated() / 2**30
    print(f"step: {out['ms']:.1f} ms, {out['tokens_per_s']:.0f} tokens/s", file=sys.stderr, flush=True)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out")
    ap.add_argument("--only", default="gemm,lora,step")
    ap.add_argument("--budget-s", type=float, default=150)
    ap.add_argument("--step-warmup", type=int, default=3)
    ap.add_argument("--step-steps", type=int, default=10)
    ap.add_argument("--dry-run", action="store_true")
    a = ap.parse_args()
    only = {x.strip() for x in a.only.split(",") if x.strip()}
    t_start = time.perf_counter()
    deadline = t_start + a.budget_s
    result = {"tool": "torch", "dry_run": a.dry_run, "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "sections": {}}

    def save():
        result["seconds"] = time.perf_counter() - t_start
        if a.out:
            with open(a.out, "w") as f:
                json.dump(result, f, indent=2, allow_nan=True)
                f.write("\n")

    try:
        import torch
    except Exception as e:  # noqa: BLE001
        result["error"] = f"torch is not importable: {error_text(e)}"
        save()
        print(result["error"], file=sys.stderr)
        return 0 if a.dry_run else 1
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu" and not a.dry_run:
        result["error"] = "no CUDA device visible to torch"
        save()
        print(result["error"], file=sys.stderr)
        return 1
    versions = {"python": sys.version.split()[0], "torch": torch.__version__, "cuda": torch.version.cuda}
    for mod in ("transformers", "peft"):
        try:
            versions[mod] = __import__(mod).__version__
        except Exception as e:  # noqa: BLE001
            versions[mod] = f"not importable: {error_text(e)}"
    result["versions"] = versions
    result["device"] = device
    if device == "cuda":
        p = torch.cuda.get_device_properties(0)
        result["gpu"] = {"name": p.name, "sm_count": p.multi_processor_count, "memory_gib": p.total_memory / 2**30,
                         "capability": f"{p.major}.{p.minor}"}
    result["tf32_api"] = set_tf32(torch, False)
    clock = Clock(torch, device)
    gemms, lora, step = (DRY_GEMMS, DRY_LORA, DRY_STEP) if a.dry_run else (GEMMS, LORA, STEP)
    min_batch_ms = 2 if a.dry_run else 20
    save()

    def section(name, fn):
        if name not in only:
            result["sections"][name] = {"status": "skipped", "seconds": 0}
            return
        if time.perf_counter() > deadline:
            result["sections"][name] = {"status": "skipped: time budget spent", "seconds": 0}
            save()
            return
        s0 = time.perf_counter()
        try:
            fn()
            result["sections"][name] = {"status": "ok", "seconds": time.perf_counter() - s0}
        except Exception as e:  # noqa: BLE001
            result["sections"][name] = {"status": "failed", "seconds": time.perf_counter() - s0, "error": error_text(e)}
            print(f"{name} failed: {error_text(e)}", file=sys.stderr, flush=True)
        if device == "cuda":
            torch.cuda.empty_cache()
        save()

    result["gemm"] = []
    section("gemm", lambda: gemm_section(torch, clock, device, gemms, min_batch_ms,
                                         min(deadline, time.perf_counter() + 0.3 * a.budget_s), result["gemm"], save))
    section("lora", lambda: result.__setitem__("lora", lora_section(torch, clock, device, lora,
                                                                    min(20.0, max(2.0, deadline - time.perf_counter())))))
    section("step", lambda: result.__setitem__("step", step_section(torch, clock, device, step, a.step_warmup, a.step_steps,
                                                                    max(1.0, 0.8 * (deadline - time.perf_counter())))))
    result["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    save()
    print(json.dumps({"sections": result["sections"], "seconds": result["seconds"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
