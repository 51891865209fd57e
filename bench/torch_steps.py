"""What the PyTorch whole-model rows (torch_train_step.py, torch_lora_step.py) share: timing training steps
and printing the result as bench/step_child.ts's StepTiming, in this process (ru_maxrss is its own peak)."""
import json
import resource
import sys
import time

import torch


def median(xs):
    s = sorted(xs)
    m = len(s) // 2
    return s[m] if len(s) % 2 else (s[m - 1] + s[m]) / 2


def time_steps(step, warmup, steps, tokens_per_step, **extra):
    """Runs `warmup` untimed steps, then times `steps`; `step` returns its loss. Prints the JSON line."""
    losses = [step() for _ in range(warmup)]
    samples = []
    for _ in range(steps):
        t0 = time.perf_counter()
        losses.append(step())
        samples.append((time.perf_counter() - t0) * 1e3)
        print(".", end="", file=sys.stderr, flush=True)
    ms = median(samples)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    json.dump({
        "torch": torch.__version__, "threads": torch.get_num_threads(), "ms": ms,
        "tokens_per_s": tokens_per_step / (ms / 1e3), "peak_rss_mb": peak_kb / 1024, "losses": losses, **extra,
    }, sys.stdout)
