"""PyTorch side of the peftjs benchmark: reads row specs (JSON) on stdin, prints {"rows": [...]}.

Each row is the same computation as bench/peftjs_rows.ts, written as PyTorch users (and HF peft) write
it: the LoRA layer is x @ W.T + b + (dropout(x) @ A.T @ B.T) * s with W and b frozen. Median of repeated
runs after warm-up, on 2 threads. Run with Debian's /usr/bin/python3 (python3-torch, OpenBLAS).
"""
import json
import sys
import time

import torch
import torch.nn.functional as F

torch.set_num_threads(2)
torch.manual_seed(0)


def step_for(name, s):
    g = lambda *shape, std=1.0: torch.randn(*shape) * std
    if name == "gemm":
        x, w = g(s["M"], s["K"]), g(s["N"], s["K"])
        return lambda: x @ w.T
    if name == "gemm_wq":
        # bits 16 or bf16 compute: torch.matmul on bf16 tensors (oneDNN's AVX512_BF16 path where the CPU has
        # it); otherwise float32 (Debian's torch has no CPU int8/nf4 weight-only kernel: bitsandbytes would
        # dequantize first).
        x, w = g(s["M"], s["K"]), g(s["N"], s["K"], std=0.02)
        if s["bits"] == 16 or s.get("compute") == 16:
            x, w = x.bfloat16(), w.bfloat16()
        return lambda: x @ w.T
    if name == "fourierft_delta":
        # HF peft's FourierFTLayer.get_delta_weight: the spectrum into a dense [out, in] at the drawn
        # locations, real(ifft2) * scaling; the backward from d delta.
        out, inf, f = s["out"], s["in"], s["F"]
        idx = torch.randperm(out * inf, generator=torch.Generator().manual_seed(777))[:f]
        rows, cols = idx // inf, idx % inf
        spectrum = torch.randn(f).requires_grad_(True)
        gd = g(out, inf)

        def step():
            spectrum.grad = None
            dense = torch.zeros(out, inf)
            dense[rows, cols] = spectrum
            (torch.fft.ifft2(dense).real * 150.0).backward(gd)
        return step
    T, d = s["T"], s["d"]
    x = g(T, d).requires_grad_(True)
    w, b, dy = g(d, d, std=0.02), g(d), g(T, d)
    if name == "base_fwd_bwd":
        def step():
            x.grad = None
            F.linear(x, w, b).backward(dy)
        return step
    if name == "lora_fwd_bwd":
        r = s["r"]
        a = g(r, d, std=0.02).requires_grad_(True)
        bl = g(d, r, std=0.02).requires_grad_(True)
        drop = torch.nn.Identity()  # lora_dropout = 0, as in the peftjs row

        def step():
            x.grad = a.grad = bl.grad = None
            y = F.linear(x, w, b) + (drop(x) @ a.T @ bl.T) * 2.0
            y.backward(dy)
        return step
    if name == "ia3_fwd_bwd":
        l = g(d).requires_grad_(True)

        def step():
            x.grad = l.grad = None
            (F.linear(x, w, b) * l).backward(dy)
        return step
    if name == "bitfit_fwd_bwd":
        bt = b.clone().requires_grad_(True)

        def step():
            x.grad = bt.grad = None
            F.linear(x, w, bt).backward(dy)
        return step
    if name == "diffprune_fwd_bwd":
        delta = torch.zeros(d, d, requires_grad=True)
        log_alpha = g(d, d, std=0.5).requires_grad_(True)
        gamma, zeta, beta = -1.5, 1.5, 1.0
        shift = beta * torch.log(torch.tensor(-gamma / zeta))

        def step():
            x.grad = delta.grad = log_alpha.grad = None
            u = torch.rand(d, d).clamp(1e-6, 1 - 1e-6)
            sg = torch.sigmoid((torch.log(u) - torch.log1p(-u) + log_alpha) / beta)
            z = (sg * (zeta - gamma) + gamma).clamp(0, 1)
            y = F.linear(x, w + z * delta, b)
            penalty = torch.sigmoid(log_alpha - shift).sum()
            torch.autograd.backward([y, penalty * 1e-4], [dy, None])
        return step
    raise ValueError(f"unknown row {name}")


def time_it(step, budget=3.0, min_runs=5, max_runs=15):
    step()
    samples = []
    start = time.perf_counter()
    while len(samples) < max_runs and (len(samples) < min_runs or time.perf_counter() - start < budget):
        t0 = time.perf_counter()
        step()
        samples.append((time.perf_counter() - t0) * 1e3)
    samples.sort()
    n = len(samples)
    return samples[n // 2] if n % 2 else (samples[n // 2 - 1] + samples[n // 2]) / 2


def main():
    specs = json.load(sys.stdin)
    out = []
    for spec in specs:
        with torch.no_grad() if spec["name"] in ("gemm", "gemm_wq") else torch.enable_grad():
            out.append({"name": spec["name"], "shape": spec["shape"], "ms": time_it(step_for(spec["name"], spec["shape"]))})
        print(".", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    # The BLAS actually loaded (Debian's torch takes whatever libblas.so.3 points to).
    with open("/proc/self/maps") as maps:
        libs = sorted({line.split()[-1] for line in maps if "blas" in line.split()[-1]})
    blas = ", ".join(libs) or "unknown"
    json.dump({"torch": torch.__version__, "threads": torch.get_num_threads(), "blas": blas, "rows": out}, sys.stdout)


if __name__ == "__main__":
    main()
