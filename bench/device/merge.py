"""Merges the device check's parts into one JSON and a markdown table (bench/device/run.sh runs it after every
step, so that a run cut short still leaves its results). Python's standard library only.

Inputs (each optional; a missing or broken one is reported, never fatal): the steps' record (JSON lines that
run.sh writes), time_ops.ts's JSON (peftjs) and that of its second run with PEFTJS_CUBLASLT=off (the own GEMM
kernels, --peftjs-own), torch_baseline.py's JSON, jest's --json output, nsys's host synchronisation count
(nsys_syncs.py), and the machine's description. Ratios are speeds: peftjs's throughput over torch's
(torch ms / peftjs ms), so above 1 is faster than torch.

Targets (from the issue):
  bf16 GEMM through cuBLASLt   >= 0.90 of torch's bf16 GEMM, on every shape timed
  own (fallback) bf16 GEMM     >= 0.50 of torch's bf16 GEMM, on every shape timed
  fused LoRA forward+backward  <= 1.10 x the frozen base layer's (T 8192, d 4096, r 16)
  LoRA training step           >= 1.0 x torch + HF peft's tokens/s (TinyLlama shape, bf16 base, 4 x 2048)
  host synchronisations        0 inside a training step (the addon's cudaHostWaits() over one step, else the
                               waits seen from JS; the larger with nsys's count where nsys ran)

Usage: python3 merge.py --out-json FILE --out-md FILE [--steps F] [--peftjs F] [--peftjs-own F] [--torch F]
                        [--jest F] [--syncs F] [--env F] [--generated TEXT] [--dry-run]
"""
import argparse
import json
import math
import re


def load(path, problems, what):
    if not path:
        return None
    try:
        with open(path) as f:
            if path.endswith(".jsonl"):
                return [json.loads(line) for line in f if line.strip()]
            return json.load(f)
    except FileNotFoundError:
        problems.append(f"{what}: no file ({path})")
    except Exception as e:  # noqa: BLE001 - a broken part must not lose the others
        problems.append(f"{what}: unreadable ({type(e).__name__}: {e})")
    return None


def num(v):
    return v if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def fmt(v, digits=3):
    v = num(v)
    if v is None:
        return "-"
    if v != 0 and (abs(v) >= 1e5 or abs(v) < 1e-3):
        return f"{v:.2e}"
    return f"{v:.{digits}f}"


ANSI = re.compile(r"\x1b\[[0-9;]*m")


def jest_summary(j):
    if not isinstance(j, dict):
        return None
    failed = []
    for suite in j.get("testResults", []):
        if suite.get("status") == "failed" and not suite.get("assertionResults"):
            failed.append({"test": suite.get("name", "?"), "message": ANSI.sub("", suite.get("message", "")).strip()[:400]})
        for a in suite.get("assertionResults", []):
            if a.get("status") == "failed":
                msg = ANSI.sub("", (a.get("failureMessages") or [""])[0]).strip().split("\n")[0][:300]
                failed.append({"test": a.get("fullName") or a.get("title"), "message": msg})
    keys = ("numTotalTests", "numPassedTests", "numFailedTests", "numPendingTests", "numTodoTests",
            "numTotalTestSuites", "numFailedTestSuites", "numRuntimeErrorTestSuites", "success")
    out = {k: j.get(k) for k in keys}
    out["failed"] = failed[:40]
    return out


def index_gemm(rows):
    out = {}
    for r in rows or []:
        out.setdefault((r.get("m"), r.get("n"), r.get("k")), []).append(r)
    return out


def speed_ratio(pj, th):
    """peftjs's throughput over torch's: torch ms / peftjs ms."""
    a, b = num((pj or {}).get("ms")), num((th or {}).get("ms"))
    return b / a if a and b else None


def gemm_table(peftjs, peftjs_own, torch):
    rows = list((peftjs or {}).get("gemm") or [])
    seen = {(r.get("m"), r.get("n"), r.get("k"), r.get("variant"), r.get("path")) for r in rows}
    for r in (peftjs_own or {}).get("gemm") or []:  # the own kernels' run (PEFTJS_CUBLASLT=off)
        key = (r.get("m"), r.get("n"), r.get("k"), r.get("variant"), r.get("path"))
        if key not in seen and (num(r.get("ms")) or r.get("error")):
            rows.append(dict(r, note=r.get("note") or r.get("error") or "PEFTJS_CUBLASLT=off run"))
            seen.add(key)
    prow = index_gemm(rows)
    trow = index_gemm((torch or {}).get("gemm"))
    table = []
    for key in list(prow) + [k for k in trow if k not in prow]:
        tv = {r.get("variant"): r for r in trow.get(key, [])}
        name = (prow.get(key) or trow.get(key))[0].get("shape")
        for r in prow.get(key, []):
            v = r.get("variant")
            ref_variant = {"fp32": "fp32", "tf32": "tf32", "bf16": "bf16", "bf16_fp32b": "bf16", "bf16_layer": "bf16"}.get(v)
            t = tv.get(ref_variant)
            table.append({
                "shape": name, "m": key[0], "n": key[1], "k": key[2], "variant": v, "path": r.get("path"),
                "peftjs_ms": r.get("ms"), "peftjs_tflops": r.get("tflops"), "peftjs_rel_err": r.get("rel_err"), "peftjs_ok": r.get("ok"),
                "torch_variant": ref_variant, "torch_ms": (t or {}).get("ms"), "torch_tflops": (t or {}).get("tflops"),
                "ratio": speed_ratio(r, t),
                "ratio_vs_torch_bf16_from_fp32": speed_ratio(r, tv.get("bf16_from_fp32")) if v.startswith("bf16") else None,
                "note": r.get("error") or r.get("note"),
            })
        if not prow.get(key):
            for t in trow.get(key, []):
                table.append({"shape": name, "m": key[0], "n": key[1], "k": key[2], "variant": t.get("variant"), "path": None,
                              "torch_variant": t.get("variant"), "torch_ms": t.get("ms"), "torch_tflops": t.get("tflops"),
                              "note": "no peftjs result"})
    return table


def step_attempt(peftjs):
    attempts = ((peftjs or {}).get("step") or {}).get("attempts") or []
    ok = [a for a in attempts if num(a.get("tokens_per_s")) and not a.get("error")]
    return (ok[0] if ok else (attempts[-1] if attempts else None)), attempts


def target(name, goal, measured, passed, detail):
    return {"target": name, "goal": goal, "measured": measured,
            "status": "n/a" if passed is None else ("pass" if passed else "FAIL"), "detail": detail}


def targets(gemm, peftjs, torch, syncs):
    out = []
    for path, goal, label in (("cublaslt", 0.90, "bf16 GEMM via cuBLASLt vs torch bf16"),
                              ("own", 0.50, "own (fallback) bf16 GEMM vs torch bf16")):
        rows = [g for g in gemm if g["variant"] == "bf16" and g.get("path") == path and num(g.get("ratio"))]
        if rows:
            worst = min(rows, key=lambda g: g["ratio"])
            out.append(target(label, f">= {goal:.2f}", worst["ratio"], worst["ratio"] >= goal,
                              "worst shape " + worst["shape"] + "; " + ", ".join(f"{g['shape']} {g['ratio']:.2f}" for g in rows)))
        else:
            why = "no peftjs bf16 GEMM on this path" if not any(g["variant"] == "bf16" and g.get("path") == path for g in gemm) \
                else "no torch bf16 timing to compare with"
            out.append(target(label, f">= {goal:.2f}", None, None, why))
    lora = (peftjs or {}).get("lora") or {}
    tl = ((torch or {}).get("lora") or {}).get("fp32") or {}
    if num(lora.get("fused_over_base")):
        r = lora["fused_over_base"]
        out.append(target("fused LoRA fwd+bwd / frozen base layer (fp32)", "<= 1.10", r, r <= 1.10,
                          f"base {fmt(lora.get('fused_base_ms'))} ms, fused {fmt(lora.get('fused_ms'))} ms, composed x{fmt(lora.get('composed_over_base'))}; "
                          f"torch+peft x{fmt(tl.get('lora_over_base'))}"))
    else:
        out.append(target("fused LoRA fwd+bwd / frozen base layer (fp32)", "<= 1.10", None, None,
                          lora.get("error") or lora.get("note") or "no peftjs LoRA timing"
                          + (f"; composed x{fmt(lora.get('composed_over_base'))}" if num(lora.get("composed_over_base")) else "")))
    att, _ = step_attempt(peftjs)
    ts = (torch or {}).get("step") or {}
    pt, tt = num((att or {}).get("tokens_per_s")), num(ts.get("tokens_per_s"))
    base_note = "" if not att or att.get("base") == 16 else f" (peftjs ran a {att.get('base')}-bit base: the bf16 one failed)"
    if pt and tt:
        out.append(target("LoRA step tokens/s vs torch + HF peft", ">= 1.00", pt / tt, pt / tt >= 1.0,
                          f"peftjs {pt:.0f} tokens/s ({fmt(att.get('ms'), 1)} ms), torch {tt:.0f} ({fmt(ts.get('ms'), 1)} ms){base_note}"))
    else:
        out.append(target("LoRA step tokens/s vs torch + HF peft", ">= 1.00", None, None,
                          f"peftjs: {(att or {}).get('error') or ('no result' if not pt else 'ok')}; "
                          f"torch: {ts.get('error') or ('no result' if not tt else 'ok')}"))
    js_syncs = (att or {}).get("host_syncs_per_step")
    waits = (att or {}).get("host_waits_per_step")
    nsys = syncs if isinstance(syncs, dict) else {}
    detail = (f"addon's cudaHostWaits() over one step: {waits if waits is not None else '-'}; "
              f"seen from JS (cudaDownload + cudaSynchronize calls): {js_syncs if js_syncs is not None else '-'}; ")
    if num(nsys.get("per_step")) is not None:
        detail += f"nsys: {fmt(nsys['per_step'], 1)} per step ({nsys.get('detail', '')})"
    else:
        detail += f"nsys: {nsys.get('unavailable') or 'not run'}"
    measured = waits if waits is not None else js_syncs
    if num(nsys.get("per_step")) is not None:
        measured = max(measured or 0, nsys["per_step"])
    out.append(target("host synchronisations inside a step", "0", measured,
                      None if measured is None else measured == 0, detail))
    return out


def markdown(res):
    L = []
    env = res.get("env") or {}
    L.append("# peftjs device check")
    L.append("")
    L.append(f"{res.get('generated', '')}: {env.get('gpu', 'GPU: unknown')}; driver {env.get('driver', '-')}; nvcc {env.get('nvcc', '-')}; "
             f"node {env.get('node', '-')}; torch {((res.get('torch') or {}).get('versions') or {}).get('torch', '-')}, "
             f"transformers {((res.get('torch') or {}).get('versions') or {}).get('transformers', '-')}, "
             f"peft {((res.get('torch') or {}).get('versions') or {}).get('peft', '-')}" + (" — DRY RUN (no GPU: numbers mean nothing)" if res.get("dry_run") else ""))
    lib = ((res.get("peftjs") or {}).get("features") or {}).get("gemm_library")
    if lib is not None:
        L.append("")
        L.append("peftjs GEMMs: " + (f"cuBLASLt {lib.get('version', '')} ({lib.get('path', '')})" if lib.get("cublasLt")
                                     else f"own kernels (cuBLASLt not used: {lib.get('reason', '')})"))
    L.append("")
    L.append("## Steps")
    L.append("")
    L.append("| step | status | seconds | note |")
    L.append("| --- | --- | ---: | --- |")
    for s in res.get("steps") or []:
        L.append(f"| {s.get('name')} | {s.get('status')} | {fmt(s.get('seconds'), 1)} | {(s.get('note') or '').replace('|', '/')} |")
    L.append("")
    L.append("## Targets")
    L.append("")
    L.append("| target | goal | measured | status | detail |")
    L.append("| --- | --- | ---: | --- | --- |")
    for t in res.get("targets") or []:
        L.append(f"| {t['target']} | {t['goal']} | {fmt(t['measured'])} | {t['status']} | {str(t['detail']).replace('|', '/')} |")
    specs = res.get("specs")
    if specs:
        L.append("")
        L.append(f"## CUDA specs: {specs.get('numPassedTests')} passed, {specs.get('numFailedTests')} failed, "
                 f"{specs.get('numPendingTests')} skipped (of {specs.get('numTotalTests')}; "
                 f"{specs.get('numRuntimeErrorTestSuites')} suites did not run)")
        for f in specs.get("failed") or []:
            L.append(f"- {f['test']}: {str(f['message']).replace(chr(10), ' ')}")
    L.append("")
    L.append("## GEMM (y = x W^T, x [M, K], W [N, K]; ratio = peftjs speed / torch speed)")
    L.append("")
    L.append("| shape | variant | path | peftjs ms | TFLOP/s | err | torch ms | TFLOP/s | ratio | note |")
    L.append("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for g in res.get("gemm") or []:
        L.append(f"| {g['shape']} | {g['variant']} | {g.get('path') or ''} | {fmt(g.get('peftjs_ms'))} | {fmt(g.get('peftjs_tflops'), 1)} | "
                 f"{fmt(g.get('peftjs_rel_err'))}{'' if g.get('peftjs_ok') in (None, True) else ' BAD'} | {fmt(g.get('torch_ms'))} | "
                 f"{fmt(g.get('torch_tflops'), 1)} | {fmt(g.get('ratio'), 2)} | {str(g.get('note') or '').replace('|', '/')} |")
    torch = res.get("torch") or {}
    mixed = [r for r in torch.get("gemm") or [] if r.get("variant") == "bf16_from_fp32" and num(r.get("ms"))]
    if mixed:
        L.append("")
        L.append("torch bf16_from_fp32 (float32 x cast each call, bf16 W, float32 out, like peftjs's bf16 GEMM): " +
                 ", ".join(f"{r['shape']} {fmt(r['ms'])} ms" for r in mixed))
    lora = (res.get("peftjs") or {}).get("lora") or {}
    tl = torch.get("lora") or {}
    L.append("")
    L.append(f"## LoRA layer forward + backward (T {lora.get('T', '-')}, d {lora.get('d', '-')}, r {lora.get('r', '-')})")
    L.append("")
    L.append("| side | base ms | LoRA ms | LoRA / base | note |")
    L.append("| --- | ---: | ---: | ---: | --- |")
    L.append(f"| peftjs fused | {fmt(lora.get('fused_base_ms'))} | {fmt(lora.get('fused_ms'))} | {fmt(lora.get('fused_over_base'))} | "
             f"{'fused vs composed: ' + json.dumps({k: float(f'{v:.1e}') for k, v in (lora.get('fused_vs_composed') or {}).items() if num(v) is not None}) if lora.get('fused_vs_composed') else (lora.get('note') or lora.get('error') or '')} |")
    L.append(f"| peftjs composed (8 GEMMs) | {fmt(lora.get('base_ms'))} | {fmt(lora.get('composed_ms'))} | {fmt(lora.get('composed_over_base'))} | |")
    for tag in ("fp32", "bf16"):
        t = tl.get(tag) or {}
        L.append(f"| torch + peft {tag} | {fmt(t.get('base_ms'))} | {fmt(t.get('lora_ms'))} | {fmt(t.get('lora_over_base'))} | {t.get('error') or ''} |")
    att, attempts = step_attempt(res.get("peftjs"))
    ts = torch.get("step") or {}
    L.append("")
    L.append("## LoRA training step (TinyLlama-1.1B shape)")
    L.append("")
    L.append("| side | base | ms / step | tokens/s | build s | host waits / step (addon; JS) | addon calls / step | losses | note |")
    L.append("| --- | --- | ---: | ---: | ---: | ---: | ---: | --- | --- |")
    for a in attempts:
        losses = a.get("losses") or []
        L.append(f"| peftjs | {a.get('base')}-bit, compute {a.get('compute')} | {fmt(a.get('ms'), 1)} | {fmt(a.get('tokens_per_s'), 0)} | "
                 f"{fmt(a.get('build_s'), 1)} | {a.get('host_waits_per_step', '-')}; {a.get('host_syncs_per_step', '-')} | "
                 f"{a.get('addon_calls_per_step', '-')} | "
                 f"{fmt(losses[0]) + ' -> ' + fmt(losses[-1]) if losses else '-'} | {str(a.get('error') or '').replace('|', '/')} |")
    tlosses = ts.get("losses") or []
    L.append(f"| torch + peft | {ts.get('base_dtype', '-')} ({ts.get('attn_implementation', '-')}) | {fmt(ts.get('ms'), 1)} | "
             f"{fmt(ts.get('tokens_per_s'), 0)} | {fmt(ts.get('build_s'), 1)} | | | "
             f"{fmt(tlosses[0]) + ' -> ' + fmt(tlosses[-1]) if tlosses else '-'} | "
             f"{'peak ' + fmt(ts.get('peak_mem_gib'), 1) + ' GiB' if num(ts.get('peak_mem_gib')) else ''}"
             f"{str(((torch.get('sections') or {}).get('step') or {}).get('error') or '').replace('|', '/')} |")
    if att and att.get("top_calls"):
        L.append("")
        L.append("peftjs addon calls in one step: " + ", ".join(f"{k} {v}" for k, v in att["top_calls"].items()))
    missing = (res.get("peftjs") or {}).get("kernels_missing_vs_native")
    if missing:
        L.append("")
        L.append("Kernels the native backend has and the cuda backend lacks: " + ", ".join(missing))
    if res.get("problems"):
        L.append("")
        L.append("## Problems")
        for p in res["problems"]:
            L.append(f"- {p}")
    return "\n".join(L) + "\n"


def main():
    ap = argparse.ArgumentParser()
    for opt in ("steps", "peftjs", "peftjs-own", "torch", "jest", "syncs", "env"):
        ap.add_argument(f"--{opt}")
    ap.add_argument("--out-json", required=True)
    ap.add_argument("--out-md", required=True)
    ap.add_argument("--dry-run", action="store_true")
    ap.add_argument("--generated", default="")
    a = ap.parse_args()
    problems = []
    steps = load(a.steps, problems, "steps") or []
    peftjs = load(a.peftjs, problems, "peftjs timings")
    peftjs_own = load(a.peftjs_own, [], "peftjs own-kernel GEMMs")  # absent when that run was skipped
    torch = load(a.torch, problems, "torch timings")
    jest = load(a.jest, problems, "jest results")
    syncs = load(a.syncs, problems, "nsys sync count")
    env = load(a.env, problems, "environment") or {}
    for part, d in (("peftjs", peftjs), ("peftjs own GEMMs", peftjs_own), ("torch", torch)):
        if isinstance(d, dict) and d.get("error"):
            problems.append(f"{part}: {d['error']}")
        for name, sec in ((d or {}).get("sections") or {}).items():
            if sec.get("status") == "failed":
                problems.append(f"{part} {name}: {sec.get('error')}")
    gemm = gemm_table(peftjs, peftjs_own, torch)
    res = {
        "generated": a.generated, "dry_run": a.dry_run, "env": env, "steps": steps,
        "targets": targets(gemm, peftjs, torch, syncs), "specs": jest_summary(jest), "gemm": gemm,
        "syncs_nsys": syncs, "peftjs": peftjs, "peftjs_own": peftjs_own, "torch": torch, "problems": problems,
    }
    with open(a.out_json, "w") as f:
        json.dump(res, f, indent=2, allow_nan=True)
        f.write("\n")
    with open(a.out_md, "w") as f:
        f.write(markdown(res))


if __name__ == "__main__":
    main()
