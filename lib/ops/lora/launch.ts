/**
 * The LoRA kernels launched on tensors: shapes checked with the kernel's name, outputs allocated, one call
 * each way. Inputs are contiguous 2-D tensors on the active backend. Not differentiable (op.ts is).
 */
import { empty } from '../../tensor/creation';
import { kernel } from '../../tensor/kernel_lookup';
import { backendFor, type Tensor } from '../../tensor/tensor';
import { expectShape, matrixDims } from '../tensor_checks';

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
export function launchLoraForward(x: Tensor, w: Tensor | null, bias: Tensor | null, a: Tensor, b: Tensor, opts: LoraOptions,
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
 * Gradients of launchLoraForward for dy: dA, dB, dx (unless inputGrad is false) and dbias (when biasGrad).
 * With w = null, dx (given as `intoDx`) already holds the base term and g A is added to it.
 */
export function launchLoraBackward(x: Tensor, w: Tensor | null, a: Tensor, b: Tensor, u: Tensor, dy: Tensor, opts: LoraOptions & {
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
