/**
 * peftjs benchmarks: `npm run bench -- [--only NAME,NAME] [--json FILE] [--rounds N] [--no-torch] [--no-tfjs]`.
 * Each row runs on the native backend, beside PyTorch (same machine, same run, 2 threads) and
 * TensorFlow.js (cpu and wasm) where they apply, and the js reference for gemm. A probe of the FMA peak
 * and the memory bandwidth gives each row its fraction of the machine's ceiling. The train_step row trains
 * a small GPT-2 in a fresh node process and a fresh python process (ms/step, tokens/s, peak RSS).
 */
import * as fs from 'fs';
import * as path from 'path';
import { availableBackends } from '../lib';
import { loadAddon } from '../lib/backend/native/addon';
import { timeJsGemm } from './js_baseline';
import { machine } from './machine';
import { loraOverBase, timeExtra, timeFourierBases, timePeftjs } from './peftjs_rows';
import { isLoraStepRow, type LoraRowResult, runLoraStepRows } from './lora_step_rows';
import { ddpBenchRow, formatDdpTable, runDdpStepRows } from './ddp_step_rows';
import { defaultRows, extraBytes, isTrainRow, ROW_NAMES, type RowName, type RowSpec, rowFlops, shapeLabel } from './rows';
import { formatNumber, formatTable } from './table';
import { runTorch, runTorchTrainStep, type TorchResult } from './torch';
import type { Family } from './family_model';
import { TRAIN_STEPS, TRAIN_WARMUP, type TrainShape, trainInChild } from './train_step';
import { timeTfjs, tfjsUnavailable } from './tfjs_baseline';
import { isTfjsRow, runTfjsRows, tfjsRowsUnavailable } from './tfjs_rows';

interface Options {
  only: Set<RowName> | null;
  json: string | null;
  torch: boolean;
  tfjs: boolean;
  rounds: number;
}

export function parseArgs(argv: string[]): Options {
  const opts: Options = { only: null, json: null, torch: true, tfjs: true, rounds: 2 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`bench: ${a} needs a value`);
      return v;
    };
    if (a === '--only') {
      const names = value().split(',');
      for (const n of names) if (!ROW_NAMES.includes(n as RowName)) throw new Error(`bench: unknown row '${n}' in --only (known: ${ROW_NAMES.join(', ')})`);
      opts.only = new Set(names as RowName[]);
    } else if (a === '--json') opts.json = value();
    else if (a === '--rounds') {
      const v = value();
      opts.rounds = Number(v);
      if (!Number.isInteger(opts.rounds) || opts.rounds < 1) throw new Error(`bench: --rounds needs a whole number >= 1, got '${v}'`);
    } else if (a === '--no-torch') opts.torch = false;
    else if (a === '--no-tfjs') opts.tfjs = false;
    else if (a === '--help' || a === '-h') {
      console.log(`usage: peftjs bench [--only NAME,NAME] [--json FILE] [--rounds N] [--no-torch] [--no-tfjs]\nrows: ${ROW_NAMES.join(', ')}\n` +
        '--rounds N: peftjs and PyTorch alternate N times over the rows; each side keeps a row\'s fastest round (default 2)');
      process.exit(0);
    } else throw new Error(`bench: unknown argument '${a}' (try --help)`);
  }
  return opts;
}

export interface BenchRow {
  name: RowName;
  shape: Record<string, number>;
  /** family_step: the model family. */
  family?: Family;
  ms: number;
  gflops: number;
  peak_fraction: number;
  torch_ms: number | null;
  vs_torch: number | null;
  tfjs_cpu_ms: number | null;
  vs_tfjs_cpu: number | null;
  tfjs_wasm_ms: number | null;
  vs_tfjs_wasm: number | null;
  js_ms?: number;
  vs_js?: number;
  /** lora: its time over base_fwd_bwd at the same T, d, minus one. */
  overhead_vs_base?: number;
  /** gemm_wq: the float32 row's ms / this row's (>= 0.9 is the target with float32 compute, >= 1.6 with bf16). */
  vs_float32?: number;
  /** ia3/bitfit/diffprune: the non-GEMM kernels timed alone, and the bandwidth their fewest bytes imply. */
  added_ms?: number;
  gbps?: number;
  bandwidth_fraction?: number;
  notes?: string[];
  /** train_step: tokens per second (B T / step time), the child process's peak RSS, and torch's. */
  tokens_per_s?: number;
  peak_rss_mb?: number;
  torch_tokens_per_s?: number | null;
  torch_peak_rss_mb?: number | null;
  /** peftjs peak RSS over torch's (<= 1: no more memory than torch). */
  rss_vs_torch?: number | null;
  /** lora_step nf4 rows: tokens/s over the bf16 base's (>= 0.85 is the target). */
  vs_bf16?: number;
  /** lora_quality: held-out loss after training, and (this / the float32 base's) - 1. */
  held_out_loss?: number;
  vs_float32_loss?: number;
  /** ddp_step: ranks, the all-reduce's median ms per step, its share of the step, bytes per rank, 2-rank tokens/s over 2 x 1-rank. */
  ranks?: number;
  allreduce_ms?: number;
  allreduce_share?: number;
  allreduce_bytes?: number;
  scaling_efficiency?: number | null;
  scaling_efficiency_vs_corun?: number | null;
  /** The losses of every step (warm-up included), peftjs and torch: both should fall. */
  losses?: number[];
  torch_losses?: number[] | null;
}

const ratio = (a: number | null | undefined, b: number | null | undefined) => (a && b ? a / b : null);

/**
 * peftjs and PyTorch take turns over the rows, `rounds` times; each side keeps a row's fastest round (each
 * round a median). On a shared machine a neighbour's burst only ever slows a round down, and timing the
 * two sides minutes apart, once each, let it decide which side looked faster (rows moved by 20%).
 */
function timeInRounds(specs: RowSpec[], opts: Options): { peftMs: number[]; torch: TorchResult } {
  const peftMs = specs.map(() => Infinity);
  let torch: TorchResult = { info: null, ms: specs.map(() => null), absent: opts.torch ? null : 'skipped (--no-torch)' };
  for (let round = 0; round < opts.rounds && specs.length > 0; round++) {
    specs.forEach((s, i) => {
      process.stderr.write('.');
      peftMs[i] = Math.min(peftMs[i], timePeftjs(s).medianMs);
    });
    if (!opts.torch || torch.absent !== null) continue;  // absent once (not installed): absent
    const t = runTorch(specs);
    if (round === 0) torch = t;
    else torch.ms = torch.ms.map((ms, i) => (ms === null || t.ms[i] === null ? ms ?? t.ms[i] : Math.min(ms, t.ms[i]!)));
  }
  process.stderr.write('\n');
  return { peftMs, torch };
}

export async function main(argv: string[]): Promise<void> {
  const opts = parseArgs(argv);
  if (!availableBackends().includes('native')) throw new Error('bench: the native addon is not available; run `npm install` first');
  const chosen = defaultRows().filter((r) => opts.only === null || opts.only.has(r.name));
  const specs = chosen.filter((s) => !isTrainRow(s) && !isLoraStepRow(s) && !isTfjsRow(s) && s.name !== 'ddp_step'), trainSpecs = chosen.filter(isTrainRow);
  const ddpSpecs = chosen.filter((s) => s.name === 'ddp_step');
  const tfjsSpecs = chosen.filter(isTfjsRow);
  const loraSpecs = chosen.filter(isLoraStepRow);
  const info = machine();
  // Ceilings are maxima: the best of three probes, since a shared machine only ever measures low.
  const probes = [0, 1, 2].map(() => loadAddon()!.probe(0.5));
  const ceilings = {
    fmaPeakGflops: Math.max(...probes.map((p) => p.fmaPeakGflops)),
    memoryBandwidthGbps: Math.max(...probes.map((p) => p.memoryBandwidthGbps)),
  };
  info.fmaPeakGflops = ceilings.fmaPeakGflops;
  info.memoryBandwidthGbps = ceilings.memoryBandwidthGbps;
  console.log(`peftjs ${info.peftjs} on ${info.cpu} (${info.cores} cores, cpu path ${info.cpuPath}, ${info.threads} threads), node ${info.node}`);
  console.log(`ceilings: FMA peak ${formatNumber(ceilings.fmaPeakGflops)} GFLOP/s, memory ${formatNumber(ceilings.memoryBandwidthGbps)} GB/s`);

  const { peftMs, torch } = timeInRounds(specs, opts);
  if (torch.info) info.torch = torch.info;
  const tfjsAbsent = opts.tfjs ? tfjsUnavailable() : 'skipped (--no-tfjs)';

  const rows: BenchRow[] = [];
  for (let i = 0; i < specs.length; i++) {
    const s = specs[i], ms = peftMs[i], flops = rowFlops(s);
    const row: BenchRow = {
      name: s.name, shape: s.shape, ms, gflops: flops / ms / 1e6, peak_fraction: flops / ms / 1e6 / ceilings.fmaPeakGflops,
      torch_ms: torch.ms[i], vs_torch: ratio(torch.ms[i], ms),
      tfjs_cpu_ms: null, vs_tfjs_cpu: null, tfjs_wasm_ms: null, vs_tfjs_wasm: null, notes: [],
    };
    if (tfjsAbsent === null) {
      const cpu = await timeTfjs(s, 'cpu'), wasm = await timeTfjs(s, 'wasm');
      if (cpu) { row.tfjs_cpu_ms = cpu.ms; row.vs_tfjs_cpu = ratio(cpu.ms, ms); row.notes!.push(`tfjs cpu timed on ${cpu.rowsTimed} rows`); }
      if (wasm) { row.tfjs_wasm_ms = wasm.ms; row.vs_tfjs_wasm = ratio(wasm.ms, ms); row.notes!.push(`tfjs wasm timed on ${wasm.rowsTimed} rows`); }
    }
    if (s.name === 'gemm') {
      const js = timeJsGemm(s.shape.M, s.shape.N, s.shape.K);
      row.js_ms = js.ms;
      row.vs_js = js.ms / ms;
      row.notes!.push(`js timed on ${js.rowsTimed} rows`);
    }
    if (s.name === 'gemm_wq' && s.shape.bits !== 32) {
      const f32 = specs.findIndex((o) => o.name === 'gemm_wq' && o.shape.bits === 32 && o.shape.M === s.shape.M && o.shape.N === s.shape.N && o.shape.K === s.shape.K);
      if (f32 >= 0) row.vs_float32 = peftMs[f32] / ms;
      if (s.shape.compute === 16) row.notes!.push(`bf16 compute: ${loadAddon()!.info().avx512Bf16 ? 'vdpbf16ps' : 'no AVX512_BF16 here, the rounded float32 GEMM'}; torch: bf16 matmul`);
      else if (s.shape.bits !== 16) row.notes!.push('torch: float32 matmul (no CPU weight-only int8/nf4 kernel in torch)');
    }
    if (s.name === 'fourierft_delta') {
      const bases = timeFourierBases(s).medianMs;
      row.notes!.push(`the product of the frozen bases (the path before the transform): ${bases.toFixed(1)} ms, ${(bases / ms).toFixed(1)}x the transform's; torch: ifft2 of the dense spectrum, as HF`);
    }
    if (s.name === 'lora_fwd_bwd') {
      const paired = loraOverBase(s);
      row.overhead_vs_base = paired.ratio - 1;
      row.notes!.push(`vs base: median of ${paired.pairs} back-to-back pairs`);
    }
    const bytes = extraBytes(s);
    const extra = bytes !== null ? timeExtra(s) : null;
    if (bytes !== null && extra !== null) {
      row.added_ms = extra.medianMs;
      row.gbps = bytes / extra.medianMs / 1e6;
      row.bandwidth_fraction = row.gbps / ceilings.memoryBandwidthGbps;
    }
    rows.push(row);
    process.stderr.write('+');
  }
  process.stderr.write('\n');

  // One child per side at a time: the machine's cores are the benchmark's, never shared between the two.
  let trainTorchAbsent: string | null = opts.torch ? null : 'skipped (--no-torch)';
  for (const s of trainSpecs) {
    const mine = trainInChild(s.shape as unknown as TrainShape, TRAIN_WARMUP, TRAIN_STEPS);
    const theirs = opts.torch ? runTorchTrainStep(s.shape, TRAIN_WARMUP, TRAIN_STEPS) : null;
    if (theirs?.absent) trainTorchAbsent = theirs.absent;
    const t = theirs?.result ?? null;
    if (t && !info.torch) info.torch = { torch: t.torch, threads: t.threads };
    const flops = rowFlops(s);
    rows.push({
      name: s.name, shape: s.shape, ms: mine.ms, gflops: flops / mine.ms / 1e6, peak_fraction: flops / mine.ms / 1e6 / ceilings.fmaPeakGflops,
      torch_ms: t?.ms ?? null, vs_torch: ratio(t?.ms, mine.ms),
      tfjs_cpu_ms: null, vs_tfjs_cpu: null, tfjs_wasm_ms: null, vs_tfjs_wasm: null,
      tokens_per_s: mine.tokens_per_s, peak_rss_mb: mine.peak_rss_mb,
      torch_tokens_per_s: t?.tokens_per_s ?? null, torch_peak_rss_mb: t?.peak_rss_mb ?? null,
      rss_vs_torch: ratio(mine.peak_rss_mb, t?.peak_rss_mb), losses: mine.losses, torch_losses: t?.losses ?? null,
      notes: [`median of ${TRAIN_STEPS} steps after ${TRAIN_WARMUP} warm-up, each side in a fresh process`],
    });
    process.stderr.write('+\n');
  }

  const loraResults = loraSpecs.length > 0 ? runLoraStepRows(loraSpecs, opts.torch) : [];
  const loraRows = loraResults.filter((r) => r.ms !== null).map((r) => loraBenchRow(r, ceilings.fmaPeakGflops));
  rows.push(...loraRows);

  const ddpResults = ddpSpecs.length > 0 ? runDdpStepRows(ddpSpecs) : [];
  const ddpRows = ddpResults.filter((r) => r.timing !== null).map((r) => ddpBenchRow(r, ceilings.fmaPeakGflops));
  rows.push(...ddpRows);

  const pct = (x: number | null | undefined) => (x === null || x === undefined ? '-' : `${(100 * x).toFixed(0)}%`);
  const times = (x: number | null | undefined) => (x === null || x === undefined ? '-' : `${x >= 100 ? x.toFixed(0) : x.toFixed(2)}x`);
  const num = (x: number | null | undefined) => (x === null || x === undefined ? '-' : x);
  const kernelRows = rows.filter((r) => r.name !== 'train_step' && r.name !== 'ddp_step' && !isLoraStepRow(r) && !isTfjsRow(r)), trainRows = rows.filter((r) => r.name === 'train_step');
  if (kernelRows.length > 0) console.log(formatTable(
    ['row', 'shape', 'ms', 'GFLOP/s', '% peak', 'torch ms', 'vs torch', 'tfjs-cpu', 'tfjs-wasm', 'vs js', 'vs base', 'added ms', 'GB/s', '% bw'],
    kernelRows.map((r) => [r.name, shapeLabel(r), r.ms, r.gflops, pct(r.peak_fraction), num(r.torch_ms), times(r.vs_torch),
      times(r.vs_tfjs_cpu), times(r.vs_tfjs_wasm), times(r.vs_js), r.overhead_vs_base === undefined ? '-' : `${r.overhead_vs_base >= 0 ? '+' : ''}${pct(r.overhead_vs_base)}`,
      num(r.added_ms), num(r.gbps), pct(r.bandwidth_fraction)])));
  for (const r of kernelRows) if (r.name === 'fourierft_delta') for (const n of r.notes ?? []) console.log(`${r.name} ${shapeLabel(r)}: ${n}`);
  if (trainRows.length > 0) {
    if (kernelRows.length > 0) console.log('');
    console.log(formatTable(
      ['row', 'shape', 'ms/step', 'tokens/s', 'RSS MB', 'GFLOP/s', 'torch ms/step', 'torch tokens/s', 'torch RSS MB', 'tokens/s vs torch', 'RSS vs torch'],
      trainRows.map((r) => [r.name, shapeLabel(r), r.ms, r.tokens_per_s!, r.peak_rss_mb!, r.gflops, num(r.torch_ms), num(r.torch_tokens_per_s),
        num(r.torch_peak_rss_mb), times(r.vs_torch), times(r.rss_vs_torch)])));
  }
  if (ddpResults.length > 0) {
    console.log('');
    console.log(formatDdpTable(ddpResults));
  }
  // The tfjs rows: the same tfjs program on the peftjs backend, tfjs's cpu and wasm (issue 18).
  const tfjsResults = tfjsSpecs.length > 0 ? await runTfjsRows(tfjsSpecs, opts.tfjs) : [];
  const tfjsRows = tfjsResults.map((r): BenchRow => {
    const ms = r.ms.peftjs!, flops = rowFlops(r.spec);
    return {
      name: r.spec.name, shape: r.spec.shape, ms, gflops: flops / ms / 1e6, peak_fraction: flops / ms / 1e6 / ceilings.fmaPeakGflops,
      torch_ms: null, vs_torch: null, tfjs_cpu_ms: r.ms.cpu, vs_tfjs_cpu: ratio(r.ms.cpu, ms), tfjs_wasm_ms: r.ms.wasm, vs_tfjs_wasm: ratio(r.ms.wasm, ms),
      notes: r.notes,
    };
  });
  rows.push(...tfjsRows);
  if (tfjsRows.length > 0) {
    console.log('');
    console.log(formatTable(['row', 'shape', 'peftjs ms', 'GFLOP/s', 'cpu ms', 'vs cpu', 'wasm ms', 'vs wasm'],
      tfjsRows.map((r) => [r.name, shapeLabel(r), r.ms, r.gflops, num(r.tfjs_cpu_ms), times(r.vs_tfjs_cpu), num(r.tfjs_wasm_ms), times(r.vs_tfjs_wasm)])));
    for (const r of tfjsRows) for (const n of r.notes ?? []) console.log(`${r.name} ${shapeLabel(r)}: ${n}`);
    console.log('tfjs rows: the same tfjs program on the backends \'peftjs\' (peftjs/tfjs), \'cpu\' and \'wasm\'; vs X = X\'s ms / peftjs ms.');
  } else if (tfjsSpecs.length > 0) console.log(`tfjs rows: ${tfjsRowsUnavailable()}`);
  const stepRows = loraRows.filter((r) => r.name !== 'lora_quality'), qualityRows = loraRows.filter((r) => r.name === 'lora_quality');
  if (stepRows.length > 0) {
    console.log('');
    console.log(formatTable(
      ['row', 'shape', 'ms/step', 'tokens/s', 'RSS MB', 'GFLOP/s', 'torch ms/step', 'torch tokens/s', 'torch RSS MB', 'tokens/s vs torch', 'vs bf16'],
      stepRows.map((r) => [r.name, shapeLabel(r), r.ms, r.tokens_per_s!, r.peak_rss_mb!, r.gflops, num(r.torch_ms), num(r.torch_tokens_per_s),
        num(r.torch_peak_rss_mb), times(r.vs_torch), times(r.vs_bf16)])));
  }
  if (qualityRows.length > 0) {
    console.log('');
    console.log(formatTable(['row', 'shape', 'held-out loss', 'vs float32', 'first loss', 'last loss', 'ms'],
      qualityRows.map((r) => [r.name, shapeLabel(r), r.held_out_loss!, `${r.vs_float32_loss! >= 0 ? '+' : ''}${(100 * r.vs_float32_loss!).toFixed(2)}%`,
        r.losses![0], r.losses![r.losses!.length - 1], r.ms])));
  }
  for (const r of loraResults) for (const n of r.notes) console.log(`${r.spec.name} ${shapeLabel(r.spec)}: ${n}`);
  if (kernelRows.length > 0 && torch.absent) console.log(`torch: ${torch.absent}`);
  if (trainRows.length > 0 && trainTorchAbsent) console.log(`torch (train_step): ${trainTorchAbsent}`);
  if (kernelRows.length > 0 && tfjsAbsent) console.log(`tfjs: ${tfjsAbsent}`);
  if (kernelRows.length > 0) console.log('vs X = X\'s time / peftjs time. tfjs and js are timed on the first rows of x and scaled (linear in rows).');
  if (trainRows.length > 0) console.log('train_step: tokens/s vs torch = peftjs tokens/s / torch\'s (>= 1 is faster); RSS vs torch = peftjs peak RSS / torch\'s (<= 1 is less; MB = MiB, ru_maxrss).');
  if (opts.json) {
    const file = path.resolve(opts.json);
    const tmp = `${file}.tmp-${process.pid}`;
    fs.writeFileSync(tmp, JSON.stringify({ machine: info, rows }, null, 2) + '\n');
    fs.renameSync(tmp, file);
    console.log(`wrote ${file}`);
  }
}

/** A lora_step / lora_quality / family_step result as a row of the bench JSON (train_step's fields). */
function loraBenchRow(r: LoraRowResult, peak: number): BenchRow {
  const flops = rowFlops(r.spec), ms = r.ms!;
  return {
    name: r.spec.name, shape: r.spec.shape, ...(r.spec.family ? { family: r.spec.family } : {}), ms, gflops: flops / ms / 1e6, peak_fraction: flops / ms / 1e6 / peak,
    torch_ms: r.torch_ms, vs_torch: ratio(r.torch_ms, ms), tfjs_cpu_ms: null, vs_tfjs_cpu: null, tfjs_wasm_ms: null, vs_tfjs_wasm: null,
    ...(r.tokens_per_s !== null ? { tokens_per_s: r.tokens_per_s, peak_rss_mb: r.peak_rss_mb!, torch_tokens_per_s: r.torch_tokens_per_s,
      torch_peak_rss_mb: r.torch_peak_rss_mb, rss_vs_torch: ratio(r.peak_rss_mb, r.torch_peak_rss_mb) } : {}),
    ...(r.vs_bf16 !== undefined ? { vs_bf16: r.vs_bf16 } : {}),
    ...(r.held_out_loss !== undefined ? { held_out_loss: r.held_out_loss, vs_float32_loss: r.vs_float32_loss } : {}),
    losses: r.losses, torch_losses: r.torch_losses ?? null, notes: r.notes,
  };
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((e) => {
    console.error((e as Error).message);
    process.exit(1);
  });
}
