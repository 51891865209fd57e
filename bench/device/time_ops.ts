/**
 * The device check's peftjs side: times the CUDA backend on a lent H100/H200 (bench/device/run.sh runs it as
 * `node dist/bench/device/time_ops.js --out FILE`; torch_baseline.py is PyTorch's side, merge.py sets the two
 * side by side against the targets).
 *
 *  gemm  y = x W^T with x [M, K], W [N, K]: fp32 (the cuda backend's float32 GEMM primitive), tf32 (the same
 *        after cudaSetAllowTf32(true)), bf16 (the gemmBf16 kernel: float32 x rounded to bf16, W as bf16 bits,
 *        float32 sums and output), bf16_fp32b (gemmBf16 with W float32 on the device) and bf16_layer
 *        (quantizedLinear on a bf16 QuantizedTensor: what the Llama step runs). fp32, tf32 and bf16 run on
 *        cuBLASLt where the addon loaded it (cudaGemmLibrary() says; path 'cublaslt'), else on the addon's
 *        own kernels (path 'own'); run.sh runs this a second time with PEFTJS_CUBLASLT=off and
 *        --only gemm --gemm-variants fp32,bf16 to time the own kernels too. Shapes: 4096^3, T = 8192 rows
 *        through 4096->4096, 4096->11008, 11008->4096 (Llama-2-7B's projections), TinyLlama's 2048->5632,
 *        5632->2048 and the 2048->32000 head. Each variant's output is poisoned with NaN first and 32
 *        sampled entries are checked against float64 dot products.
 *  lora  one LoRA layer forward + backward (T = 8192, d = 4096, r = 16, float32: bench/peftjs_rows.ts's
 *        lora_fwd_bwd) against the frozen base layer (y = x W^T + b, dx = dy W), timed alternately in pairs;
 *        the fused kernels (loraForward / loraBackward) where the cuda backend registers them, and always
 *        the same layer composed of 8 GEMM launches; the fused results are checked against the composed.
 *  step  one LoRA training step (zeroGrad, forward, next-token loss, backward, AdamW over the adapters) of a
 *        Llama with TinyLlama-1.1B's shape and random weights (bench/lora_step.ts's buildModel), bf16 base
 *        with bf16 compute, sequence 2048, batch 4, r = 16 on q/k/v/o/gate/up/down; a float32 base when
 *        the bf16 one fails. One step is counted: the addon's cudaHostWaits() before and after it (every
 *        wait of the host for the device, inside C++ too), and every addon call, cudaDownload and
 *        cudaSynchronize being the waits JS can see; run.sh adds nsys's count where nsys runs.
 *
 * Timing: device work is asynchronous, so each sample is synchronize, run (a batch of calls for short
 * GEMMs, so that a sample lasts >= 20 ms), synchronize, read the host clock; warm-up first, the median
 * reported. `--dry-run` runs every section with tiny shapes on the native (CPU) backend: it checks this
 * file's logic on a machine without a GPU, and its numbers mean nothing.
 *
 * Usage: node dist/bench/device/time_ops.js [--out FILE] [--only gemm,lora,step] [--budget-s S]
 *          [--step-warmup N] [--step-steps N] [--profile-steps K] [--gemm-variants fp32,tf32,bf16,...]
 *          [--dry-run] [--backend cuda|native]
 * (--profile-steps K: for run.sh's nsys count, the step section runs K steps back to back after the warm-up
 * and synchronises once, with nothing else on the host timeline: the difference between K = 1 and K = 3
 * under nsys is two steps' CUDA API calls.)
 */
import * as fs from 'fs';
import { backend, listKernels, setBackend } from '../../lib/backend';
import type { Backend, BackendName, Buf, GemmParams, KernelName } from '../../lib/backend/types';
import { loadAddon, type NativeAddon } from '../../lib/backend/native/addon';
import { empty, randn } from '../../lib/tensor/creation';
import { matmul } from '../../lib/tensor/ops';
import { tidy } from '../../lib/tensor/scope';
import type { Tensor } from '../../lib/tensor/tensor';
import { launchLoraBackward, launchLoraForward } from '../../lib/ops/lora/launch';
import { quantizedLinear } from '../../lib/quant/quantized_linear';
import { QuantizedTensor } from '../../lib/quant/quantized_tensor';
import type { Module } from '../../lib/nn/module';
import { AdamW } from '../../lib/optim';
import { getPeftModel, LoraConfig } from '../../lib/peft';
import { buildModel, type LoraStepShape } from '../lora_step';
import { randomIds } from '../train_step';
import { median } from '../step_child';

// ---------------------------------------------------------------- options

interface Options {
  out: string | null;
  only: Set<string>;
  budgetS: number;
  stepWarmup: number;
  stepSteps: number;
  dryRun: boolean;
  backend: BackendName;
  gemmVariants: Set<string>;
  /** > 0: the step section only builds, warms up, runs this many steps back to back and synchronises once (for nsys). */
  profileSteps: number;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { out: null, only: new Set(['gemm', 'lora', 'step']), budgetS: 240, stepWarmup: 2, stepSteps: 5, dryRun: false, backend: 'cuda',
    profileSteps: 0, gemmVariants: new Set(GEMM_VARIANTS) };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i], next = () => {
      if (i + 1 >= argv.length) throw new Error(`time_ops: ${a} needs a value`);
      return argv[++i];
    };
    if (a === '--out') o.out = next();
    else if (a === '--only') o.only = new Set(next().split(',').map((s) => s.trim()).filter(Boolean));
    else if (a === '--budget-s') o.budgetS = Number(next());
    else if (a === '--step-warmup') o.stepWarmup = Number(next());
    else if (a === '--step-steps') o.stepSteps = Number(next());
    else if (a === '--profile-steps') o.profileSteps = Number(next());
    else if (a === '--gemm-variants') o.gemmVariants = new Set(next().split(',').map((v) => v.trim()).filter(Boolean));
    else if (a === '--dry-run') o.dryRun = true;
    else if (a === '--backend') o.backend = next() as BackendName;
    else if (a === '--help' || a === '-h') {
      console.log('usage: node dist/bench/device/time_ops.js [--out FILE] [--only gemm,lora,step] [--budget-s S] ' +
        '[--step-warmup N] [--step-steps N] [--profile-steps K] [--gemm-variants LIST] [--dry-run] [--backend cuda|native]');
      process.exit(0);
    } else throw new Error(`time_ops: unknown argument ${a}`);
  }
  if (o.dryRun && !argv.includes('--backend')) o.backend = 'native';
  if (!(o.budgetS > 0)) throw new Error('time_ops: --budget-s must be positive');
  return o;
}

/** The sizes: the real ones, and tiny ones for --dry-run on a CPU. */
interface GemmCase { name: string; m: number; n: number; k: number }
const SIZES = {
  full: {
    gemm: [
      { name: '4096^3', m: 4096, n: 4096, k: 4096 },
      { name: 'T8192 4096->4096', m: 8192, n: 4096, k: 4096 },
      { name: 'T8192 4096->11008', m: 8192, n: 11008, k: 4096 },
      { name: 'T8192 11008->4096', m: 8192, n: 4096, k: 11008 },
      { name: 'T8192 2048->5632', m: 8192, n: 5632, k: 2048 },
      { name: 'T8192 5632->2048', m: 8192, n: 2048, k: 5632 },
      { name: 'T8192 2048->32000', m: 8192, n: 32000, k: 2048 },
    ] as GemmCase[],
    lora: { T: 8192, d: 4096, r: 16 },
    step: { L: 22, d: 2048, F: 5632, H: 32, KV: 4, V: 32000, T: 2048, B: 4, base: 16, compute: 16, ckpt: 0, r: 16 } as LoraStepShape,
    minBatchMs: 20,
  },
  dry: {
    gemm: [
      { name: 'dry 96x80x64', m: 96, n: 80, k: 64 },
      { name: 'dry T256 128->96', m: 256, n: 96, k: 128 },
    ] as GemmCase[],
    lora: { T: 256, d: 128, r: 8 },
    step: { L: 2, d: 64, F: 176, H: 4, KV: 2, V: 512, T: 32, B: 2, base: 16, compute: 16, ckpt: 0, r: 4 } as LoraStepShape,
    minBatchMs: 2,
  },
};
const LORA_TARGETS = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'];

// ---------------------------------------------------------------- the addon: switches and call counts

/** The addon entries through which the host waits for the device (as seen from JS). */
const SYNC_ENTRIES = ['cudaDownload', 'cudaSynchronize'];
const calls = new Map<string, number>();
let counting = false;

/** Wraps every addon function with a call counter (active while `counting`); returns how many were wrapped. */
function instrument(addon: NativeAddon): number {
  const table = addon as unknown as Record<string, unknown>;
  let wrapped = 0;
  for (const name of Object.keys(table)) {
    const fn = table[name];
    if (typeof fn !== 'function') continue;
    const counted = function (this: unknown, ...args: unknown[]): unknown {
      if (counting) calls.set(name, (calls.get(name) ?? 0) + 1);
      return (fn as (...a: unknown[]) => unknown).apply(this, args);
    };
    try {
      table[name] = counted;
      if (table[name] === counted) wrapped++;
    } catch { /* a read-only export stays uncounted */ }
  }
  return wrapped;
}

/** An addon function whose name matches (e.g. a TF32 or cuBLASLt switch), preferring setters. */
function findSwitch(addon: NativeAddon, match: RegExp): string | null {
  const table = addon as unknown as Record<string, unknown>;
  const names = Object.keys(table).filter((k) => match.test(k) && typeof table[k] === 'function');
  names.sort((a, b) => Number(/^(cuda)?(set|use|enable)/i.test(b)) - Number(/^(cuda)?(set|use|enable)/i.test(a)));
  return names[0] ?? null;
}

function callSwitch(addon: NativeAddon, name: string, on: boolean): void {
  (addon as unknown as Record<string, (v: boolean) => unknown>)[name](on);
}

// ---------------------------------------------------------------- timing

const now = () => performance.now();

interface DeviceTiming { ms: number; min_ms: number; max_ms: number; samples: number; batch: number; first_ms: number }

/**
 * Median ms of one call of fn: two warm-up calls (the second sizes the batch: enough calls for minBatchMs
 * per sample), then samples of synchronize, `batch` calls, synchronize.
 */
function timeDevice(be: Backend, fn: () => void, o: { minBatchMs: number; samples: number; budgetMs: number; maxBatch?: number }): DeviceTiming {
  be.synchronize();
  let t0 = now();
  fn();
  be.synchronize();
  const first = now() - t0;
  t0 = now();
  fn();
  be.synchronize();
  const est = Math.max(now() - t0, 1e-3);
  const batch = Math.max(1, Math.min(o.maxBatch ?? 200, Math.ceil(o.minBatchMs / est)));
  const xs: number[] = [];
  const start = now();
  while (xs.length < o.samples && (xs.length < 3 || now() - start < o.budgetMs)) {
    be.synchronize();
    const s = now();
    for (let i = 0; i < batch; i++) fn();
    be.synchronize();
    xs.push((now() - s) / batch);
  }
  return { ms: median(xs), min_ms: Math.min(...xs), max_ms: Math.max(...xs), samples: xs.length, batch, first_ms: first };
}

/** a and b alternately (a, b, a, b...), each synchronised: the median of b / a and of each one's ms. */
function timePairs(be: Backend, a: () => void, b: () => void, pairs: number, budgetMs: number) {
  a(); b(); a(); b();
  be.synchronize();
  const ra: number[] = [], rb: number[] = [], ratios: number[] = [];
  const start = now();
  while (ratios.length < pairs && (ratios.length < 3 || now() - start < budgetMs)) {
    be.synchronize();
    const t0 = now();
    a();
    be.synchronize();
    const t1 = now();
    b();
    be.synchronize();
    const t2 = now();
    ra.push(t1 - t0);
    rb.push(t2 - t1);
    ratios.push((t2 - t1) / (t1 - t0));
  }
  return { ratio: median(ratios), a_ms: median(ra), b_ms: median(rb), pairs: ratios.length };
}

// ---------------------------------------------------------------- checks

function at(b: Buf, offset: number): Buf {
  return { storage: b.storage, offset: b.offset + offset };
}

/** Deterministic sample positions of an m x n output, corners included. */
function samplePositions(m: number, n: number, count: number): [number, number][] {
  const out: [number, number][] = [[0, 0], [m - 1, n - 1], [0, n - 1], [m - 1, 0]];
  let s = 0x9e3779b9;
  while (out.length < count) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const i = s % m;
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out.push([i, s % n]);
  }
  return out;
}

/** float64 references of C = X W^T at the sample positions, from rows read off the device. */
function references(be: Backend, x: Buf, w: Buf, k: number, pos: [number, number][]): number[] {
  const rows = new Map<string, Float32Array>();
  const row = (b: Buf, i: number, tag: string) => {
    const key = `${tag}${i}`;
    let r = rows.get(key);
    if (!r) rows.set(key, r = be.read(at(b, i * k), k));
    return r;
  };
  return pos.map(([i, j]) => {
    const xi = row(x, i, 'x'), wj = row(w, j, 'w');
    let acc = 0;
    for (let p = 0; p < k; p++) acc += xi[p] * wj[p];
    return acc;
  });
}

/** max |c - ref| / rms(ref) over the samples; NaN when any sample is not finite (never written, or broken). */
function sampledError(be: Backend, c: Buf, n: number, pos: [number, number][], refs: number[]): number {
  let worst = 0, sq = 0;
  for (let s = 0; s < pos.length; s++) {
    const [i, j] = pos[s];
    const v = be.read(at(c, i * n + j), 1)[0];
    if (!Number.isFinite(v)) return NaN;
    worst = Math.max(worst, Math.abs(v - refs[s]));
    sq += refs[s] * refs[s];
  }
  return worst / Math.sqrt(sq / pos.length);
}

/** ||a - b|| / ||b|| of two host arrays. */
function relDiff(a: Float32Array, b: Float32Array): number {
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i] - b[i];
    num += d * d;
    den += b[i] * b[i];
  }
  return Number.isFinite(num) ? Math.sqrt(num / Math.max(den, 1e-30)) : NaN;
}

const TOLERANCE: Record<string, number> = { fp32: 1e-4, tf32: 5e-3, bf16: 2e-2, bf16_fp32b: 2e-2, bf16_layer: 2e-2 };

function errorText(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  return m.split('\n')[0].slice(0, 500);
}

// ---------------------------------------------------------------- sections

interface GemmRow {
  shape: string; m: number; n: number; k: number;
  variant: GemmVariant;
  path: string;
  ms?: number; tflops?: number; rel_err?: number; ok?: boolean; timing?: DeviceTiming;
  error?: string; note?: string;
}

interface Features {
  /** cudaGemmLibrary(): whether the GEMMs run on cuBLASLt here ({cublasLt, path, version, reason}); null if the addon lacks it. */
  gemm_library: { cublasLt: boolean; path?: string; version?: string; reason?: string } | null;
  /** What the fp32 and bf16 GEMMs run on: cuBLASLt where it loaded (PEFTJS_CUBLASLT=off disables it), else the own kernels. */
  gemm_path: 'cublaslt' | 'own';
  tf32_switch: string | null;
  host_waits: boolean;
  gemm_bf16_kernel: boolean;
  lora_fused: boolean;
}

function features(addon: NativeAddon, be: Backend): Features {
  const table = addon as unknown as Record<string, unknown>;
  let lib: Features['gemm_library'] = null;
  if (typeof table.cudaGemmLibrary === 'function') {
    try {
      lib = (table.cudaGemmLibrary as () => Features['gemm_library'])();
    } catch (e) {
      lib = { cublasLt: false, reason: `cudaGemmLibrary: ${errorText(e)}` };
    }
  }
  return {
    gemm_library: lib,
    gemm_path: lib?.cublasLt ? 'cublaslt' : 'own',
    tf32_switch: typeof table.cudaSetAllowTf32 === 'function' ? 'cudaSetAllowTf32' : findSwitch(addon, /tf32/i),
    host_waits: typeof table.cudaHostWaits === 'function',
    gemm_bf16_kernel: be.kernels.has('gemmBf16' as KernelName),
    lora_fused: be.kernels.has('loraForward' as KernelName) && be.kernels.has('loraBackward' as KernelName),
  };
}

/** The addon's count of host waits for the device (downloads, value reads, synchronize); null where it has none. */
function hostWaits(addon: NativeAddon): number | null {
  const fn = (addon as unknown as Record<string, unknown>).cudaHostWaits;
  return typeof fn === 'function' ? (fn as () => number)() : null;
}

const GEMM_VARIANTS = ['fp32', 'tf32', 'bf16', 'bf16_fp32b', 'bf16_layer'] as const;
type GemmVariant = typeof GEMM_VARIANTS[number];

/**
 * Each shape's variants: fp32 (the float32 GEMM primitive), tf32 (the same with cudaSetAllowTf32(true):
 * only GEMMs on cuBLASLt use it), bf16 (the gemmBf16 kernel with B as bf16 bits, which the cuda backend keeps
 * on the device after the first call: the form cuBLASLt takes), bf16_fp32b (gemmBf16 with B float32 on the
 * device, rounded as it is read: always the own kernel), bf16_layer (quantizedLinear on a bf16
 * QuantizedTensor, compute bfloat16: what the Llama step runs).
 */
function gemmSection(be: Backend, addon: NativeAddon, f: Features, cases: GemmCase[], variants: Set<string>, minBatchMs: number,
                     deadline: number, rows: GemmRow[], save: () => void): void {
  const gemmBf16 = f.gemm_bf16_kernel ? (be.kernels.get('gemmBf16' as KernelName, 'time_ops') as unknown as (p: object) => void) : null;
  for (const g of cases) {
    const { m, n, k } = g;
    const flop = 2 * m * n * k;
    tidy(() => {
      const x = randn([m, k], { seed: 101 }), w = randn([n, k], { seed: 102 }), c = empty([m, n]);
      const pos = samplePositions(m, n, 32);
      const refs = references(be, x.buf(), w.buf(), k, pos);
      const fp32: GemmParams = { transA: false, transB: true, m, n, k, alpha: 1, a: x.buf(), lda: k, b: w.buf(), ldb: k, beta: 0, c: c.buf(), ldc: n, bias: null };
      const bf16Common = { transB: true, m, n, k, alpha: 1, a: x.buf(), lda: k, bOffset: 0, bQuant: null, ldb: k, beta: 0, c: c.buf(), ldc: n, bias: null };
      const run = (variant: GemmVariant, path: string, fn: (() => void) | null, note?: string, check?: () => number) => {
        if (!variants.has(variant)) return;
        const row: GemmRow = { shape: g.name, m, n, k, variant, path };
        if (note) row.note = note;
        if (fn === null) { rows.push(row); return; }
        if (now() > deadline) { row.note = 'skipped: time budget spent'; rows.push(row); return; }
        try {
          be.fill({ out: c.buf(), n: m * n, value: NaN });
          const t = timeDevice(be, fn, { minBatchMs, samples: 7, budgetMs: 1500 });
          row.timing = t;
          row.ms = t.ms;
          row.tflops = flop / (t.ms * 1e-3) / 1e12;
          row.rel_err = check ? check() : sampledError(be, c.buf(), n, pos, refs);
          row.ok = Number.isFinite(row.rel_err) && row.rel_err <= (TOLERANCE[variant] ?? 2e-2);
        } catch (e) {
          row.error = errorText(e);
        }
        rows.push(row);
        process.stderr.write(`gemm ${g.name} ${variant}${path ? ` (${path})` : ''}: ${row.error ?? `${row.ms?.toFixed(3)} ms, ` +
          `${row.tflops?.toFixed(1)} TFLOP/s, err ${row.rel_err?.toExponential(1)}`}\n`);
        save();
      };

      run('fp32', f.gemm_path, () => be.gemm(fp32));
      if (!f.tf32_switch) {
        run('tf32', '', null, 'the addon has no TF32 switch (cudaSetAllowTf32)');
      } else if (f.gemm_path !== 'cublaslt') {
        run('tf32', '', null, 'TF32 applies to GEMMs on cuBLASLt, which is not in use here');
      } else if (variants.has('tf32')) {
        const sw = f.tf32_switch;
        try {
          callSwitch(addon, sw, true);
          run('tf32', f.gemm_path, () => be.gemm(fp32));   // the check runs with the switch on too
        } catch (e) {
          rows.push({ shape: g.name, m, n, k, variant: 'tf32', path: sw, error: `${sw}(true): ${errorText(e)}` });
        } finally {
          try { callSwitch(addon, sw, false); } catch { /* the row above says it failed */ }
        }
      }
      if (!gemmBf16) {
        run('bf16', '', null, 'the cuda backend registers no gemmBf16 kernel');
        return;
      }
      let q: QuantizedTensor | null = null;
      if (variants.has('bf16') || variants.has('bf16_layer')) {
        try {
          q = QuantizedTensor.quantize(w, [n, k], 'bfloat16');
        } catch (e) {
          rows.push({ shape: g.name, m, n, k, variant: 'bf16', path: f.gemm_path, error: `quantize: ${errorText(e)}` });
        }
      }
      if (q) {
        const qt = q, bits = q.bf16Bits;
        if (bits) run('bf16', f.gemm_path, () => gemmBf16({ ...bf16Common, bBits: bits, b: null }));
        run('bf16_layer', f.gemm_path, () => tidy(() => { quantizedLinear(x, qt, null, 'bfloat16'); }), 'quantizedLinear',
          () => sampledError(be, quantizedLinear(x, qt, null, 'bfloat16').buf(), n, pos, refs));
      }
      run('bf16_fp32b', 'own', () => gemmBf16({ ...bf16Common, bBits: null, b: w.buf() }), 'B float32 on the device: the own kernel');
    });
  }
}

interface LoraResult {
  T: number; d: number; r: number;
  /** The base layer's ms in the composed pairs and in the fused pairs (each ratio is against its own pairs' base). */
  base_ms?: number; fused_base_ms?: number; fused_ms?: number; composed_ms?: number;
  fused_over_base?: number; composed_over_base?: number; fused_pairs?: number; composed_pairs?: number;
  fused_vs_composed?: Record<string, number>;
  fused?: boolean; note?: string; error?: string;
}

function loraSection(be: Backend, f: Features, shape: { T: number; d: number; r: number }, budgetMs: number): LoraResult {
  const { T, d, r } = shape, s = 2;
  const out: LoraResult = { T, d, r, fused: f.lora_fused };
  tidy(() => {
    const x = randn([T, d], { seed: 11 }), w = randn([d, d], { seed: 12, std: 0.02 }), bias = randn([d], { seed: 13 });
    const dy = randn([T, d], { seed: 14 }), a = randn([r, d], { seed: 15, std: 0.02 }), bl = randn([d, r], { seed: 16, std: 0.02 });
    const base = () => tidy(() => { matmul(x, w.T, { bias }); matmul(dy, w); });
    // The same layer as 8 GEMM launches into preallocated outputs (what an unfused implementation runs).
    const y = empty([T, d]), u = empty([T, r]), dx = empty([T, d]), g = empty([T, r]), da = empty([r, d]), db = empty([d, r]);
    const gemm = (p: Partial<GemmParams> & Pick<GemmParams, 'm' | 'n' | 'k' | 'a' | 'lda' | 'b' | 'ldb' | 'c' | 'ldc'>) =>
      be.gemm({ transA: false, transB: false, alpha: 1, beta: 0, bias: null, ...p });
    const composed = () => {
      gemm({ transB: true, m: T, n: d, k: d, a: x.buf(), lda: d, b: w.buf(), ldb: d, c: y.buf(), ldc: d, bias: bias.buf() });  // y = x W^T + b
      gemm({ transB: true, m: T, n: r, k: d, a: x.buf(), lda: d, b: a.buf(), ldb: d, c: u.buf(), ldc: r });                    // u = x A^T
      gemm({ transB: true, m: T, n: d, k: r, alpha: s, a: u.buf(), lda: r, b: bl.buf(), ldb: r, beta: 1, c: y.buf(), ldc: d }); // y += s u B^T
      gemm({ m: T, n: d, k: d, a: dy.buf(), lda: d, b: w.buf(), ldb: d, c: dx.buf(), ldc: d });                                 // dx = dy W
      gemm({ m: T, n: r, k: d, alpha: s, a: dy.buf(), lda: d, b: bl.buf(), ldb: r, c: g.buf(), ldc: r });                       // g = s dy B
      gemm({ m: T, n: d, k: r, a: g.buf(), lda: r, b: a.buf(), ldb: d, beta: 1, c: dx.buf(), ldc: d });                         // dx += g A
      gemm({ transA: true, m: r, n: d, k: T, a: g.buf(), lda: r, b: x.buf(), ldb: d, c: da.buf(), ldc: d });                    // dA = g^T x
      gemm({ transA: true, m: d, n: r, k: T, alpha: s, a: dy.buf(), lda: d, b: u.buf(), ldb: r, c: db.buf(), ldc: r });        // dB = s dy^T u
    };
    const c = timePairs(be, base, composed, 9, budgetMs / 2);
    out.base_ms = c.a_ms;
    out.composed_ms = c.b_ms;
    out.composed_over_base = c.ratio;
    out.composed_pairs = c.pairs;
    process.stderr.write(`lora: base ${c.a_ms.toFixed(3)} ms, composed ${c.b_ms.toFixed(3)} ms (x${c.ratio.toFixed(3)})\n`);
    if (!f.lora_fused) {
      out.note = 'the cuda backend registers no loraForward/loraBackward kernel: only the composed layer is timed';
      return;
    }
    const fused = () => tidy(() => {
      const { u: uf } = launchLoraForward(x, w, bias, a, bl, { scale: s });
      launchLoraBackward(x, w, a, bl, uf, dy, { scale: s });
    });
    const p = timePairs(be, base, fused, 9, budgetMs / 2);
    out.fused_ms = p.b_ms;
    out.fused_over_base = p.ratio;
    out.fused_pairs = p.pairs;
    out.fused_base_ms = p.a_ms;
    process.stderr.write(`lora: fused ${p.b_ms.toFixed(3)} ms (x${p.ratio.toFixed(3)} of base ${p.a_ms.toFixed(3)} ms)\n`);
    // The fused results against the composed ones (float32 both: they differ by summation order only).
    composed();
    tidy(() => {
      const fy = launchLoraForward(x, w, bias, a, bl, { scale: s });
      const gr = launchLoraBackward(x, w, a, bl, fy.u, dy, { scale: s });
      out.fused_vs_composed = {
        y: relDiff(fy.y.toFloat32Array(), y.toFloat32Array()),
        dx: gr.dx ? relDiff(gr.dx.toFloat32Array(), dx.toFloat32Array()) : NaN,
        dA: relDiff(gr.da.toFloat32Array(), da.toFloat32Array()),
        dB: relDiff(gr.db.toFloat32Array(), db.toFloat32Array()),
      };
    });
  });
  return out;
}

interface StepAttempt {
  base: number; compute: number;
  build_s?: number; warmup_ms?: number[]; ms?: number; min_ms?: number; tokens_per_s?: number; samples?: number; losses?: number[];
  addon_calls_per_step?: number; host_syncs_per_step?: number;
  /** cudaHostWaits() over the step: every wait of the host for the device, C++ side included. */
  host_waits_per_step?: number; sync_calls?: Record<string, number>;
  top_calls?: Record<string, number>; error?: string;
}

interface StepResult { shape: LoraStepShape; attempts: StepAttempt[] }

/** Fills `out` as it goes (save() after each stage: a run killed mid-step keeps what it had). */
function stepSection(be: Backend, addon: NativeAddon, shape: LoraStepShape, warmup: number, steps: number, budgetMs: number, out: StepResult,
                     save: () => void, profileSteps = 0): void {
  const attempts = out.attempts;
  const t00 = now();
  const tries = [{ base: shape.base, compute: shape.compute }, { base: 32, compute: 32 }];
  for (const t of tries) {
    const s: LoraStepShape = { ...shape, ...t };
    const att: StepAttempt = { base: s.base, compute: s.compute };
    attempts.push(att);
    if (attempts.length > 1 && now() - t00 > budgetMs * 0.6) {
      att.error = 'not tried: the time budget is spent';
      save();
      break;
    }
    save();
    const keepers: Tensor[] = [];
    try {
      const t0 = now();
      const model = buildModel(s);
      const peft = getPeftModel(model as unknown as Module as never, new LoraConfig({ r: s.r, loraAlpha: 2 * s.r, loraDropout: 0, targetModules: LORA_TARGETS }));
      model.train();
      const optimizer = new AdamW(peft.trainableParameters(), { lr: 1e-4 });
      const inputIds = randomIds({ B: s.B, T: s.T, V: s.V, L: 0, H: 0, d: 0 });
      be.synchronize();
      att.build_s = (now() - t0) / 1e3;
      process.stderr.write(`step (base ${s.base}, compute ${s.compute}): built in ${att.build_s.toFixed(1)} s\n`);
      save();
      // The step leaves its loss on the device: no read inside it.
      const step = (): Tensor => tidy(() => {
        optimizer.zeroGrad();
        const { loss } = model.forward({ inputIds, labels: inputIds });
        loss!.backward();
        optimizer.step();
        return loss!;
      });
      // Warm-up: fewer steps when one already takes a large part of the budget.
      att.warmup_ms = [];
      for (let i = 0; i < warmup; i++) {
        const w0 = now();
        keepers.push(step());
        be.synchronize();
        att.warmup_ms.push(now() - w0);
        process.stderr.write(`step: warm-up ${i + 1} took ${(now() - w0).toFixed(0)} ms\n`);
        if (now() - t00 > budgetMs / 2) break;
      }
      if (profileSteps > 0) {
        for (let i = 0; i < profileSteps; i++) keepers.push(step());
        be.synchronize();
        att.samples = profileSteps;
        break;
      }
      // One step counted: every addon call, and the ones that make the host wait.
      calls.clear();
      const waits0 = hostWaits(addon);
      counting = true;
      try {
        keepers.push(step());
      } finally {
        counting = false;
      }
      const waits1 = hostWaits(addon);
      if (waits0 !== null && waits1 !== null) att.host_waits_per_step = waits1 - waits0;
      be.synchronize();
      const counted = Object.fromEntries([...calls.entries()].sort((p, q) => q[1] - p[1]));
      att.addon_calls_per_step = [...calls.values()].reduce((p, q) => p + q, 0);
      att.sync_calls = Object.fromEntries(SYNC_ENTRIES.map((n) => [n, calls.get(n) ?? 0]));
      att.host_syncs_per_step = SYNC_ENTRIES.reduce((p, n) => p + (calls.get(n) ?? 0), 0);
      att.top_calls = Object.fromEntries(Object.entries(counted).slice(0, 15));
      save();
      // Timed steps: synchronise at each step's end only.
      const xs: number[] = [];
      while (xs.length < steps && (xs.length < 1 || now() - t00 < budgetMs)) {
        const a = now();
        keepers.push(step());
        be.synchronize();
        xs.push(now() - a);
        process.stderr.write('.');
      }
      process.stderr.write('\n');
      att.samples = xs.length;
      att.ms = median(xs);
      att.min_ms = Math.min(...xs);
      att.tokens_per_s = (s.B * s.T) / (att.ms / 1e3);
      att.losses = keepers.map((l) => l.item());
      process.stderr.write(`step: ${att.ms.toFixed(1)} ms, ${att.tokens_per_s.toFixed(0)} tokens/s, ` +
        `host waits per step: ${att.host_waits_per_step ?? '-'} (addon counter), ${att.host_syncs_per_step} seen from JS; ` +
        `${att.addon_calls_per_step} addon calls per step\n`);
      for (const l of keepers) l.dispose();
      if (!att.losses.every(Number.isFinite)) att.error = `non-finite loss: ${att.losses.join(', ')}`;
      break;
    } catch (e) {
      counting = false;
      att.error = errorText(e);
      process.stderr.write(`step (base ${s.base}, compute ${s.compute}) failed: ${att.error}\n`);
      save();
      for (const l of keepers) if (!l.isDisposed) l.dispose();
    }
  }
}

// ---------------------------------------------------------------- main

function main(): void {
  const o = parseArgs(process.argv.slice(2));
  const t0 = now();
  const deadline = t0 + o.budgetS * 1e3;
  const sizes = o.dryRun ? SIZES.dry : SIZES.full;
  const result: Record<string, unknown> = {
    tool: 'peftjs', dry_run: o.dryRun, backend: o.backend, node: process.version, started: new Date().toISOString(),
    sections: {} as Record<string, { status: string; seconds: number; error?: string }>,
  };
  const save = () => {
    result.seconds = (now() - t0) / 1e3;
    if (o.out) fs.writeFileSync(o.out, JSON.stringify(result, null, 2) + '\n');
  };
  const addon = loadAddon();
  if (!addon) throw new Error('time_ops: the addon did not load (set PEFTJS_ADDON to the built .node file)');
  result.info = addon.info();
  result.instrumented_entries = instrument(addon);   // before the backend exists: it binds some entries when made
  setBackend(o.backend);
  const be = backend(o.backend);
  const f = features(addon, be);
  result.features = f;
  result.kernels = listKernels(o.backend);
  try {
    const native = listKernels('native');
    result.kernels_missing_vs_native = native.filter((k) => !be.kernels.has(k as KernelName));
  } catch { /* no native backend */ }
  save();

  const sections = result.sections as Record<string, { status: string; seconds: number; error?: string }>;
  const section = (name: string, fn: () => void) => {
    if (!o.only.has(name)) { sections[name] = { status: 'skipped', seconds: 0 }; return; }
    if (now() > deadline) { sections[name] = { status: 'skipped: time budget spent', seconds: 0 }; save(); return; }
    const s0 = now();
    try {
      fn();
      sections[name] = { status: 'ok', seconds: (now() - s0) / 1e3 };
    } catch (e) {
      sections[name] = { status: 'failed', seconds: (now() - s0) / 1e3, error: errorText(e) };
      process.stderr.write(`${name} failed: ${errorText(e)}\n`);
    }
    save();
  };

  const gemmRows: GemmRow[] = [];
  result.gemm = gemmRows;
  section('gemm', () => gemmSection(be, addon, f, sizes.gemm, o.gemmVariants, sizes.minBatchMs,
    Math.min(deadline, now() + (o.only.size === 1 ? 0.9 : 0.3) * o.budgetS * 1e3), gemmRows, save));
  section('lora', () => { result.lora = loraSection(be, f, sizes.lora, Math.min(20e3, Math.max(2e3, deadline - now()))); });
  section('step', () => {
    const left = deadline - now();
    const out: StepResult = { shape: sizes.step, attempts: [] };
    result.step = out;
    stepSection(be, addon, sizes.step, o.stepWarmup, o.stepSteps, Math.max(1e3, left * 0.8), out, save, o.profileSteps);
  });
  result.finished = new Date().toISOString();
  save();
  console.log(JSON.stringify({ sections: result.sections, seconds: result.seconds }));
}

try {
  main();
} catch (e) {
  console.error(e instanceof Error ? e.stack ?? e.message : String(e));
  process.exit(1);
}
