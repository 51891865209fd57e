"""Host synchronisations per LoRA step from two nsys profiles (bench/device/run.sh's syncs step).

run.sh profiles `time_ops.js --only step --profile-steps K` for K = 1 and K = 3 (the same build and warm-up,
then K steps back to back and one synchronize) and exports each profile's CUDA API summary as CSV
(`nsys stats --report cuda_api_sum --format csv`). The difference of the two is two steps' API calls, so
per step = (calls(K=3) - calls(K=1)) / 2 for the calls that make the host wait: cudaStreamSynchronize,
cudaDeviceSynchronize, cudaEventSynchronize, blocking cudaMemcpy* (not *Async), and cudaMalloc / cudaFree
(not *Async), which synchronise the device implicitly.

Usage: python3 nsys_syncs.py ONE.csv THREE.csv STEPS_APART OUT.json
"""
import csv
import json
import re
import sys

SYNCING = re.compile(r"^(cudaStreamSynchronize|cudaDeviceSynchronize|cudaEventSynchronize|cudaMemcpy(?!.*Async)\w*|"
                     r"cudaMalloc(?!Async|Host|Managed)\w*|cudaFree(?!Async|Host)\w*|cuStreamSynchronize|cuCtxSynchronize|"
                     r"cuMemcpy(?!.*Async)\w*)$")


def calls(path):
    """{API name: number of calls} from an nsys cuda_api_sum CSV (any preamble lines are skipped)."""
    with open(path, newline="") as f:
        lines = f.read().splitlines()
    start = next((i for i, line in enumerate(lines) if "Name" in line and "Calls" in line), None)
    if start is None:
        raise ValueError(f"{path}: no cuda_api_sum header (a 'Num Calls' and a 'Name' column)")
    rows = list(csv.reader(lines[start:]))
    header = rows[0]
    ci = next(i for i, h in enumerate(header) if "Calls" in h)
    ni = next(i for i, h in enumerate(header) if h.strip() == "Name")
    out = {}
    for r in rows[1:]:
        if len(r) <= max(ci, ni) or not r[ci].strip():
            continue
        name = re.sub(r"_v\d+$", "", r[ni].strip())  # cudaMemcpy_v3020 -> cudaMemcpy
        out[name] = out.get(name, 0) + int(float(r[ci].replace(",", "")))
    return out


def main():
    one, three, apart, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    try:
        a, b = calls(one), calls(three)
        diff = {k: (b.get(k, 0) - a.get(k, 0)) / apart for k in sorted(set(a) | set(b)) if SYNCING.match(k)}
        per_step = sum(v for v in diff.values())
        result = {"per_step": per_step, "by_api": {k: v for k, v in diff.items() if v},
                  "detail": ", ".join(f"{k} {v:g}" for k, v in diff.items() if v) or "none",
                  "launches_per_step": (b.get("cudaLaunchKernel", 0) - a.get("cudaLaunchKernel", 0)) / apart}
    except Exception as e:  # noqa: BLE001 - reported in the results instead
        result = {"unavailable": f"could not read the nsys summaries: {type(e).__name__}: {e}"}
    with open(out, "w") as f:
        json.dump(result, f, indent=2)
        f.write("\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
