/**
 * The four PEFT kernels on tensors: fused LoRA linear, (IA)3 scaling, diff-pruning gates and BitFit's
 * bias-only backward. Forward and backward are separate calls; autograd (lib/tensor) will chain them.
 * Inputs must be contiguous 2-D tensors on the active backend; every shape is checked here with the
 * operation's name.
 */
import type { GateOptions, Ia3Mode } from '../backend/types';
import { empty } from './creation';
import { kernel } from './kernel_lookup';
import { formatShape } from './shape';
import { backendFor, type Tensor } from './tensor';

/** Checks t is a contiguous tensor of exactly `shape` on the active backend. */
function expectShape(op: string, name: string, t: Tensor, shape: number[]): void {
  backendFor(t, op);
  if (t.rank !== shape.length || t.shape.some((d, i) => d !== shape[i]))
    throw new RangeError(`${op}: ${name} must be ${formatShape(shape)}, got ${formatShape(t.shape)}`);
  if (!t.isContiguous()) throw new RangeError(`${op}: ${name} must be contiguous (call contiguous() first)`);
}

function matrixDims(op: string, name: string, t: Tensor): [number, number] {
  if (t.rank !== 2) throw new RangeError(`${op}: ${name} must be 2-D, got ${formatShape(t.shape)}`);
  return [t.shape[0], t.shape[1]];
}

export interface LoraOptions {
  /** s = alpha / r (or alpha / sqrt(r) with rsLoRA). */
  scale: number;
  dropout?: number;
  /** Seed of the dropout mask (regenerated in the backward, never stored). */
  seed?: number;
  /** The batch row of x's first row: slices of one batch keep the batch's dropout mask. */
  rowOffset?: number;
}

function loraShapes(op: string, x: Tensor, a: Tensor, b: Tensor, w: Tensor | null) {
  const [T, K] = matrixDims(op, 'x', x);
  const [r] = matrixDims(op, 'A', a);
  const [N] = matrixDims(op, 'B', b);
  expectShape(op, 'x', x, [T, K]);
  expectShape(op, 'A', a, [r, K]);
  expectShape(op, 'B', b, [N, r]);
  if (w) expectShape(op, 'W', w, [N, K]);
  return { T, K, N, r };
}

function loraCommon(opts: LoraOptions, op: string) {
  const dropout = opts.dropout ?? 0;
  if (!(dropout >= 0 && dropout < 1)) throw new RangeError(`${op}: dropout must be in [0, 1), got ${dropout}`);
  return { scale: opts.scale, dropout, seed: opts.seed ?? 0, rowOffset: opts.rowOffset ?? 0 };
}

/**
 * y = x W^T + bias + s (drop(x) A^T) B^T, and u = drop(x) A^T for the backward. With w = null, `into`
 * must hold the base output already and only the adapter's term is added to it.
 */
export function loraLinear(x: Tensor, w: Tensor | null, bias: Tensor | null, a: Tensor, b: Tensor, opts: LoraOptions,
                           into?: Tensor): { y: Tensor; u: Tensor } {
  const op = 'loraForward';
  const be = backendFor(x, op);
  const { T, K, N, r } = loraShapes(op, x, a, b, w);
  if (bias) expectShape(op, 'bias', bias, [N]);
  if (w === null && into === undefined) throw new Error(`${op}: without W, pass the base output to add to as 'into'`);
  if (into) expectShape(op, 'into', into, [T, N]);
  const u = empty([T, r]);
  const y = into ?? empty([T, N]);
  kernel(be, 'loraForward', op)({ T, K, N, r, x: x.buf(), w: w ? w.buf() : null, bias: bias ? bias.buf() : null, a: a.buf(), b: b.buf(),
    ...loraCommon(opts, op), u: u.buf(), y: y.buf() });
  return { y, u };
}

export interface LoraGradients {
  dx: Tensor | null;
  da: Tensor;
  db: Tensor;
  dbias: Tensor | null;
}

/**
 * Gradients of loraLinear for dy: dA, dB, dx (unless inputGrad is false) and dbias (when biasGrad).
 * With w = null, dx (given as `intoDx`) already holds the base term and g A is added to it.
 */
export function loraLinearBackward(x: Tensor, w: Tensor | null, a: Tensor, b: Tensor, u: Tensor, dy: Tensor, opts: LoraOptions & {
  inputGrad?: boolean; biasGrad?: boolean; intoDx?: Tensor;
}): LoraGradients {
  const op = 'loraBackward';
  const be = backendFor(x, op);
  const { T, K, N, r } = loraShapes(op, x, a, b, w);
  expectShape(op, 'u', u, [T, r]);
  expectShape(op, 'dy', dy, [T, N]);
  const wantDx = opts.inputGrad ?? true;
  if (wantDx && w === null && opts.intoDx === undefined) throw new Error(`${op}: without W, pass the base input gradient as 'intoDx'`);
  if (opts.intoDx) expectShape(op, 'intoDx', opts.intoDx, [T, K]);
  const dx = wantDx ? opts.intoDx ?? empty([T, K]) : null;
  const da = empty([r, K]), db = empty([N, r]);
  const dbias = opts.biasGrad ? empty([N]) : null;
  kernel(be, 'loraBackward', op)({ T, K, N, r, x: x.buf(), w: w ? w.buf() : null, a: a.buf(), b: b.buf(), u: u.buf(), dy: dy.buf(),
    ...loraCommon(opts, op), dx: dx ? dx.buf() : null, da: da.buf(), db: db.buf(), dbias: dbias ? dbias.buf() : null });
  return { dx, da, db, dbias };
}

function ia3Shapes(op: string, x: Tensor, w: Tensor, l: Tensor, mode: Ia3Mode) {
  if (mode !== 'output' && mode !== 'input') throw new RangeError(`${op}: mode must be 'output' or 'input', got '${String(mode)}'`);
  const [T, K] = matrixDims(op, 'x', x);
  const [N] = matrixDims(op, 'W', w);
  expectShape(op, 'x', x, [T, K]);
  expectShape(op, 'W', w, [N, K]);
  expectShape(op, 'l', l, [mode === 'output' ? N : K]);
  return { T, K, N };
}

/** (IA)3 linear: 'output' y = (x W^T + b) * l; 'input' y = (x * l) W^T + b. yPre is kept for the backward. */
export function ia3Linear(x: Tensor, w: Tensor, bias: Tensor | null, l: Tensor, mode: Ia3Mode, opts: { keepPre?: boolean } = {}): { y: Tensor; yPre: Tensor | null } {
  const op = 'ia3Forward';
  const be = backendFor(x, op);
  const { T, K, N } = ia3Shapes(op, x, w, l, mode);
  if (bias) expectShape(op, 'bias', bias, [N]);
  const y = empty([T, N]);
  const yPre = mode === 'output' && (opts.keepPre ?? true) ? empty([T, N]) : null;
  kernel(be, 'ia3Forward', op)({ mode, T, K, N, x: x.buf(), w: w.buf(), bias: bias ? bias.buf() : null, l: l.buf(), y: y.buf(), yPre: yPre ? yPre.buf() : null });
  return { y, yPre };
}

export function ia3LinearBackward(x: Tensor, w: Tensor, l: Tensor, mode: Ia3Mode, dy: Tensor, yPre: Tensor | null, opts: { inputGrad?: boolean } = {}): { dx: Tensor | null; dl: Tensor } {
  const op = 'ia3Backward';
  const be = backendFor(x, op);
  const { T, K, N } = ia3Shapes(op, x, w, l, mode);
  expectShape(op, 'dy', dy, [T, N]);
  if (mode === 'output') {
    if (yPre === null) throw new Error(`${op}: output scaling needs yPre from the forward`);
    expectShape(op, 'yPre', yPre, [T, N]);
  }
  const dx = opts.inputGrad ?? true ? empty([T, K]) : null;
  const dl = empty([mode === 'output' ? N : K]);
  kernel(be, 'ia3Backward', op)({ mode, T, K, N, x: x.buf(), w: w.buf(), l: l.buf(), dy: dy.buf(), yPre: yPre ? yPre.buf() : null, dx: dx ? dx.buf() : null, dl: dl.buf() });
  return { dx, dl };
}

export const DEFAULT_GATE: GateOptions = Object.freeze({ gamma: -1.5, zeta: 1.5, beta: 1 });

export interface GateRunOptions {
  training: boolean;
  seed?: number;
  gate?: GateOptions;
}

function gateParams(op: string, w: Tensor, delta: Tensor, logAlpha: Tensor) {
  expectShape(op, 'delta', delta, [...w.shape]);
  if (!delta.isContiguous() || !w.isContiguous()) throw new RangeError(`${op}: W and delta must be contiguous`);
  if (logAlpha.size !== 1 && logAlpha.size !== w.size)
    throw new RangeError(`${op}: logAlpha must have 1 (structured) or ${w.size} elements, got ${formatShape(logAlpha.shape)}`);
  backendFor(logAlpha, op);
  return { n: w.size, logAlphaLength: logAlpha.size };
}

/** W' = W + z * delta with hard-concrete gates z; also the gates and the expected-L0 penalty. */
export function diffPrune(w: Tensor, delta: Tensor, logAlpha: Tensor, opts: GateRunOptions): { w: Tensor; z: Tensor; penalty: number } {
  const op = 'diffPruneForward';
  const be = backendFor(w, op);
  const { n, logAlphaLength } = gateParams(op, w, delta, logAlpha);
  const wOut = empty(w.shape), z = empty(w.shape);
  const penalty = kernel(be, 'diffPruneForward', op)({ n, logAlphaLength, delta: delta.buf(), logAlpha: logAlpha.buf(), training: opts.training,
    seed: opts.seed ?? 0, gate: opts.gate ?? DEFAULT_GATE, w: w.buf(), wOut: wOut.buf(), z: z.buf() });
  return { w: wOut, z, penalty };
}

/**
 * Gradients of diffPrune for dW' (and lambda times the penalty). opts.gates: the z diffPrune returned for
 * the same arguments; with them the backward is one streaming pass (no redraw of the random bits, no gate
 * math). Without them the gates are regenerated from the seed: the same values.
 */
export function diffPruneBackward(dw: Tensor, delta: Tensor, logAlpha: Tensor, opts: GateRunOptions & { lambda: number; gates?: Tensor | null }): { dDelta: Tensor; dLogAlpha: Tensor } {
  const op = 'diffPruneBackward';
  const be = backendFor(dw, op);
  const { n, logAlphaLength } = gateParams(op, dw, delta, logAlpha);
  const gates = opts.gates ?? null;
  if (gates) expectShape(op, 'gates', gates, [...dw.shape]);
  const dDelta = empty(dw.shape), dLogAlpha = empty(logAlpha.shape);
  kernel(be, 'diffPruneBackward', op)({ n, logAlphaLength, delta: delta.buf(), logAlpha: logAlpha.buf(), training: opts.training, seed: opts.seed ?? 0,
    gate: opts.gate ?? DEFAULT_GATE, dw: dw.buf(), lambda: opts.lambda, dDelta: dDelta.buf(), dLogAlpha: dLogAlpha.buf(), gates: gates ? gates.buf() : null });
  return { dDelta, dLogAlpha };
}

/** Keeps the round(density * n) largest-magnitude entries of v (in place); returns the threshold. */
export function projectToDensity(v: Tensor, density: number): number {
  const op = 'projectTopK';
  const be = backendFor(v, op);
  if (!(density >= 0 && density <= 1)) throw new RangeError(`${op}: density must be in [0, 1], got ${density}`);
  if (!v.isContiguous()) throw new RangeError(`${op}: tensor must be contiguous`);
  return kernel(be, 'projectTopK', op)({ v: v.buf(), n: v.size, keep: Math.round(density * v.size) });
}

/** The sparse form of a mostly-zero tensor: flat indices and their values. */
export function toSparse(v: Tensor): { shape: number[]; indices: Int32Array; values: Float32Array } {
  const data = v.toFloat32Array();
  let count = 0;
  for (const x of data) if (x !== 0) count++;
  const indices = new Int32Array(count), values = new Float32Array(count);
  for (let i = 0, j = 0; i < data.length; i++) if (data[i] !== 0) { indices[j] = i; values[j++] = data[i]; }
  return { shape: [...v.shape], indices, values };
}

/** The dense tensor of a sparse (indices, values) export; indices are checked against the shape. */
export function fromSparse(s: { shape: number[]; indices: ArrayLike<number>; values: ArrayLike<number> }): Tensor {
  const size = s.shape.reduce((a, b) => a * b, 1);
  if (s.indices.length !== s.values.length)
    throw new RangeError(`fromSparse: ${s.indices.length} indices but ${s.values.length} values`);
  const dense = new Float32Array(size);
  for (let i = 0; i < s.indices.length; i++) {
    const at = s.indices[i];
    if (!Number.isInteger(at) || at < 0 || at >= size) throw new RangeError(`fromSparse: index ${at} is outside a tensor of ${size} elements`);
    dense[at] = s.values[i];
  }
  const out = empty(s.shape);
  backendFor(out, 'fromSparse').write(out.buf(), dense);
  return out;
}

/** BitFit's backward of a frozen linear layer: dbias = column sums of dy, dx = dy W (unless inputGrad is false). */
export function bitfitBackward(dy: Tensor, w: Tensor, opts: { inputGrad?: boolean } = {}): { dx: Tensor | null; dbias: Tensor } {
  const op = 'bitfitBackward';
  const be = backendFor(dy, op);
  const [T, N] = matrixDims(op, 'dy', dy);
  const [, K] = matrixDims(op, 'W', w);
  expectShape(op, 'dy', dy, [T, N]);
  expectShape(op, 'W', w, [N, K]);
  const dx = opts.inputGrad ?? true ? empty([T, K]) : null;
  const dbias = empty([N]);
  kernel(be, 'bitfitBackward', op)({ T, K, N, dy: dy.buf(), w: w.buf(), dx: dx ? dx.buf() : null, dbias: dbias.buf() });
  return { dx, dbias };
}
