/**
 * Every CUDA code path against the native kernels on shapes large enough to take it: the big GEMM tiles and
 * their edges, rows wider than a block, long sequences, grouped-query heads, rank chunks, the pooled
 * reductions. (The op specs compare every backend with the js oracle on small and odd shapes; here the
 * native kernels are the reference, since the js loops would take minutes at these sizes.) Runs where a
 * CUDA device is visible, and says why it is skipped elsewhere.
 */
import { backend, backendStatus, type Backend, type Buf, type KernelName } from '../../lib';
import { hostRandom } from '../helpers/backends';
import { bufOf, readBuf, zerosBuf } from '../helpers/bufs';

const cuda = backendStatus().find((s) => s.name === 'cuda')!;
if (!cuda.available) console.log(`skipping the CUDA large-shape specs: ${cuda.reason}`);

interface Case {
  name: string;
  kernel: KernelName;
  /** Input buffers' values (outputs that the kernel accumulates into start from their values too). */
  inputs: Record<string, Float32Array>;
  /** Output buffers and their lengths (zero-filled unless also an input). */
  outputs: Record<string, number>;
  params: (bufs: Record<string, Buf>) => object;
  /** Largest |cuda - native| allowed, relative to max(1, |native|). */
  tol: number;
}

function runOn(be: Backend, c: Case): { outs: Record<string, Float32Array>; returned: unknown } {
  const bufs: Record<string, Buf> = {};
  for (const [k, v] of Object.entries(c.inputs)) bufs[k] = bufOf(be, v, 3);
  for (const [k, n] of Object.entries(c.outputs)) bufs[k] ??= zerosBuf(be, n, 1);
  const returned = (be.kernels.get(c.kernel, 'cuda-large-shapes') as (p: object) => unknown)(c.params(bufs));
  const outs: Record<string, Float32Array> = {};
  for (const [k, n] of Object.entries(c.outputs)) outs[k] = readBuf(be, bufs[k], n);
  return { outs, returned };
}

function worstError(got: Float32Array, want: Float32Array): number {
  let worst = 0;
  for (let i = 0; i < want.length; i++) {
    if (Number.isNaN(want[i]) !== Number.isNaN(got[i])) return Infinity;
    if (Number.isNaN(want[i])) continue;
    worst = Math.max(worst, Math.abs(got[i] - want[i]) / Math.max(1, Math.abs(want[i])));
  }
  return worst;
}

const rand = (n: number, seed: number, scale = 1) => hostRandom(n, seed).map((x) => x * scale);

function gemmCase(m: number, n: number, k: number, transA: boolean, transB: boolean): Case {
  return {
    name: `gemm ${m}x${n}x${k}${transA ? ' A^T' : ''}${transB ? ' B^T' : ''} with bias`, kernel: 'gemm', tol: 1e-4,
    inputs: { a: rand(m * k, 1), b: rand(k * n, 2), bias: rand(n, 3) }, outputs: { c: m * n },
    params: (b) => ({ transA, transB, m, n, k, alpha: 0.5, a: b.a, lda: transA ? m : k, b: b.b, ldb: transB ? k : n, beta: 0, c: b.c, ldc: n, bias: b.bias }),
  };
}

function gemmBf16Case(m: number, n: number, k: number): Case {
  // B as float32 (rounded as it is read): the same operands on both devices, products summed in float32.
  return {
    name: `gemmBf16 ${m}x${n}x${k} W^T`, kernel: 'gemmBf16', tol: 2e-3,
    inputs: { a: rand(m * k, 4), b: rand(n * k, 5), c: rand(m * n, 6) }, outputs: { c: m * n },
    params: (b) => ({ transB: true, m, n, k, alpha: 1, a: b.a, lda: k, bBits: null, bOffset: 0, b: b.b, ldb: k, beta: 0.5, c: b.c, ldc: n, bias: null }),
  };
}

function attentionCases(): Case[] {
  const B = 2, tq = 700, tk = 1000, Hq = 8, Hkv = 2, D = 64;
  const q = rand(B * tq * Hq * D, 7), k = rand(B * tk * Hkv * D, 8), v = rand(B * tk * Hkv * D, 9);
  const keyMask = Int32Array.from({ length: B * tk }, (_, i) => (i % 97 === 5 ? 0 : 1));
  const shape = { batch: B, tq, tk, qHeads: Hq, kvHeads: Hkv, headDim: D, scale: 1 / Math.sqrt(D), causal: true, keyMask };
  const views = (b: Record<string, Buf>) => ({ q: { buf: b.q, rowStride: Hq * D }, k: { buf: b.k, rowStride: Hkv * D }, v: { buf: b.v, rowStride: Hkv * D } });
  const forward: Case = {
    name: `attention forward B=${B} tq=${tq} tk=${tk} GQA ${Hq}/${Hkv} D=${D} causal, masked keys`, kernel: 'attentionForward', tol: 1e-4,
    inputs: { q, k, v }, outputs: { out: B * tq * Hq * D, lse: B * Hq * tq },
    params: (b) => ({ ...shape, ...views(b), out: b.out, lse: b.lse }),
  };
  // The backward takes the forward's out and lse from the native run (the same inputs for both devices).
  const native = backend('native');
  const fwd = runOn(native, forward).outs;
  const backward: Case = {
    name: 'attention backward (same shapes)', kernel: 'attentionBackward', tol: 1e-3,
    inputs: { q, k, v, out: fwd.out, lse: fwd.lse, dout: rand(B * tq * Hq * D, 10) },
    outputs: { dq: B * tq * Hq * D, dk: B * tk * Hkv * D, dv: B * tk * Hkv * D },
    params: (b) => ({ ...shape, ...views(b), out: b.out, lse: b.lse, dout: b.dout,
      dq: { buf: b.dq, rowStride: Hq * D }, dk: { buf: b.dk, rowStride: Hkv * D }, dv: { buf: b.dv, rowStride: Hkv * D } }),
  };
  return [forward, backward];
}

function loraCases(): Case[] {
  const T = 1000, K = 300, N = 257, r = 20;
  const common = { T, K, N, r, scale: 2, dropout: 0.1, seed: 1234, rowOffset: 17 };
  const inputs = { x: rand(T * K, 11), w: rand(N * K, 12), a: rand(r * K, 13), b: rand(N * r, 14), bias: rand(N, 15) };
  const forward: Case = {
    name: `loraForward T=${T} K=${K} N=${N} r=${r} with dropout`, kernel: 'loraForward', tol: 1e-4, inputs,
    outputs: { u: T * r, y: T * N },
    params: (b) => ({ ...common, x: b.x, w: b.w, a: b.a, b: b.b, bias: b.bias, u: b.u, y: b.y }),
  };
  const u = runOn(backend('native'), forward).outs.u;
  const backward: Case = {
    name: 'loraBackward (same shapes)', kernel: 'loraBackward', tol: 1e-3,
    inputs: { ...inputs, u, dy: rand(T * N, 16) }, outputs: { dx: T * K, da: r * K, db: N * r, dbias: N },
    params: (b) => ({ ...common, x: b.x, w: b.w, a: b.a, b: b.b, u: b.u, dy: b.dy, dx: b.dx, da: b.da, db: b.db, dbias: b.dbias }),
  };
  return [forward, backward];
}

function rowCases(): Case[] {
  const rows = 37, cols = 5000, vocab = 32000, ce = 64;
  const targets = Int32Array.from({ length: ce }, (_, i) => (i % 9 === 0 ? -100 : (i * 7919) % vocab));
  return [
    { name: `rmsNormForward rows wider than a block (${cols})`, kernel: 'rmsNormForward', tol: 1e-5,
      inputs: { x: rand(rows * cols, 17), weight: rand(cols, 18) }, outputs: { y: rows * cols, rstd: rows },
      params: (b) => ({ rows, cols, x: b.x, weight: b.weight, eps: 1e-6, y: b.y, rstd: b.rstd }) },
    { name: `softmax rows of ${cols}`, kernel: 'softmax', tol: 1e-5,
      inputs: { a: rand(rows * cols, 19, 8) }, outputs: { out: rows * cols },
      params: (b) => ({ a: b.a, out: b.out, rows, cols }) },
    { name: `crossEntropyForward vocab ${vocab}, ignored rows`, kernel: 'crossEntropyForward', tol: 1e-5,
      inputs: { logits: rand(ce * vocab, 20, 6) }, outputs: { losses: ce, lse: ce },
      params: (b) => ({ rows: ce, vocab, logits: b.logits, targets, ignoreIndex: -100, losses: b.losses, lse: b.lse }) },
    { name: `embeddingBackward with repeated ids`, kernel: 'embeddingBackward', tol: 1e-5,
      inputs: { dy: rand(4096 * 96, 21), dtable: rand(1000 * 96, 22) }, outputs: { dtable: 1000 * 96 },
      params: (b) => ({ n: 4096, dim: 96, vocab: 1000, ids: Int32Array.from({ length: 4096 }, (_, i) => (i * 31) % 1000), dy: b.dy, dtable: b.dtable }) },
    { name: 'rope at positions up to 8191', kernel: 'rope', tol: 1e-5,
      inputs: { x: rand(2048 * 8 * 128, 23) }, outputs: { x: 2048 * 8 * 128 },
      params: (b) => ({ rows: 2048, heads: 8, headDim: 128, rotaryDim: 128, rowStride: 8 * 128, x: b.x,
        positions: Int32Array.from({ length: 2048 }, (_, i) => i * 4), theta: 10000, interleaved: false, inverse: false }) },
    { name: 'adamwStep over a million and three values', kernel: 'adamwStep', tol: 1e-6,
      inputs: { param: rand(1_000_003, 24), grad: rand(1_000_003, 25), m: rand(1_000_003, 26, 0.1), v: rand(1_000_003, 27).map(Math.abs) },
      outputs: { param: 1_000_003, m: 1_000_003, v: 1_000_003 },
      params: (b) => ({ n: 1_000_003, param: b.param, grad: b.grad, m: b.m, v: b.v, lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, step: 7 }) },
  ];
}

if (!cuda.available) describe.skip('cuda against native on large shapes', () => it('needs a CUDA device', () => undefined));
else describe('cuda against native on large shapes', () => {
  const native = backend('native');
  // Built only here: the backward cases run the native forward first, seconds of work a skip should not pay.
  const cases: Case[] = [
    gemmCase(513, 257, 1031, false, false), gemmCase(300, 1000, 129, true, false), gemmCase(1024, 1024, 512, false, true),
    gemmCase(1, 4096, 4096, false, true), gemmBf16Case(1000, 1027, 515), gemmBf16Case(2048, 2048, 2048),
    ...attentionCases(), ...loraCases(), ...rowCases(),
  ];

  it.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const want = runOn(native, c), got = runOn(backend('cuda'), c);
    for (const k of Object.keys(c.outputs)) {
      const error = worstError(got.outs[k], want.outs[k]);
      expect({ output: k, error: error <= c.tol ? 'within tolerance' : error }).toEqual({ output: k, error: 'within tolerance' });
    }
    expect(got.returned).toEqual(want.returned);
  });

  it('sumSquares of a large buffer agrees with the CPU to double rounding', () => {
    const x = rand(3_000_017, 28);
    const c: Case = { name: 'sumSquares', kernel: 'sumSquares', tol: 0, inputs: { x }, outputs: {}, params: (b) => ({ x: b.x, n: x.length }) };
    const want = runOn(native, c).returned as number, got = runOn(backend('cuda'), c).returned as number;
    expect(Math.abs(got - want) / want).toBeLessThan(1e-12);
  });
});
