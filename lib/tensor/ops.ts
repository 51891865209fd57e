/**
 * Tensor operations on the active backend. Each checks its inputs (alive, on the backend's device,
 * compatible shapes) and names itself in every error; the kernels below assume what was checked here.
 */
import type { Backend, BinaryOpName, ReduceOpName, UnaryOpName } from '../backend/types';
import { empty } from './creation';
import { formatShape, normalizeDim, sizeOf } from './shape';
import { backendFor, type Tensor } from './tensor';

/** How a 2-D tensor can feed gemm without a copy: row-major with a leading dimension, or transposed. */
interface MatrixLayout {
  trans: boolean;
  ld: number;
}

function matrixLayout(t: Tensor): MatrixLayout | null {
  const [rows, cols] = t.shape;
  const [s0, s1] = t.strides;
  if ((s1 === 1 || cols === 1) && s0 >= cols) return { trans: false, ld: Math.max(s0, cols, 1) };
  if ((s0 === 1 || rows === 1) && s1 >= rows) return { trans: true, ld: Math.max(s1, rows, 1) };
  return null;
}

/** Runs fn with a gemm-ready version of t (itself, or a contiguous copy disposed after). */
function withMatrix<T>(t: Tensor, fn: (m: Tensor, layout: MatrixLayout) => T): T {
  const layout = matrixLayout(t);
  if (layout !== null) return fn(t, layout);
  const c = t.contiguous();
  try {
    return fn(c, { trans: false, ld: Math.max(c.shape[1], 1) });
  } finally {
    c.dispose();
  }
}

export interface MatmulOptions {
  /** Multiplies the product (default 1). */
  alpha?: number;
  /** A row vector [N] added to every row of the result. */
  bias?: Tensor;
}

/** a [M, K] x b [K, N] -> [M, N]; transposed views (x.T) are passed to the kernel without copying. */
export function matmul(a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
  const be = backendFor(a, 'matmul');
  backendFor(b, 'matmul');
  if (a.rank !== 2 || b.rank !== 2 || a.shape[1] !== b.shape[0])
    throw new RangeError(`matmul: expected a [M, K] and b [K, N], got a ${formatShape(a.shape)} and b ${formatShape(b.shape)}`);
  const [m, k] = a.shape;
  const n = b.shape[1];
  let bias = null;
  if (opts.bias !== undefined) {
    backendFor(opts.bias, 'matmul');
    if (opts.bias.size !== n || !opts.bias.isContiguous())
      throw new RangeError(`matmul: bias must be a contiguous row of ${n} values, got ${formatShape(opts.bias.shape)}`);
    bias = opts.bias.buf();
  }
  const out = empty([m, n]);
  withMatrix(a, (am, la) =>
    withMatrix(b, (bm, lb) =>
      be.gemm({ transA: la.trans, transB: lb.trans, m, n, k, alpha: opts.alpha ?? 1, a: am.buf(), lda: la.ld,
        b: bm.buf(), ldb: lb.ld, beta: 0, c: out.buf(), ldc: Math.max(n, 1), bias })));
  return out;
}

/** y = x W^T + b for x [..., in], W [out, in] (PyTorch's Linear layout), b [out]. */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor): Tensor {
  if (x.rank < 1 || weight.rank !== 2 || x.shape[x.rank - 1] !== weight.shape[1])
    throw new RangeError(`linear: expected x [..., ${weight.shape[1] ?? 'in'}] and weight [out, in], got x ${formatShape(x.shape)} and weight ${formatShape(weight.shape)}`);
  const lead = x.shape.slice(0, -1);
  const x2 = x.reshape([sizeOf(lead), weight.shape[1]]);
  try {
    const y = matmul(x2, weight.T, { bias });
    if (lead.length === 1) return y;
    const shaped = y.reshape([...lead, weight.shape[0]]);
    y.dispose();
    return shaped;
  } finally {
    x2.dispose();
  }
}

/** Runs fn on contiguous versions of the inputs, disposing the copies it made. */
function withContiguous<T>(ts: Tensor[], fn: (cs: Tensor[]) => T): T {
  const cs = ts.map((t) => (t.isContiguous() ? t : t.contiguous()));
  try {
    return fn(cs);
  } finally {
    cs.forEach((c, i) => c !== ts[i] && c.dispose());
  }
}

function elementwise(op: BinaryOpName, a: Tensor, b: Tensor | number): Tensor {
  const be = backendFor(a, op);
  if (typeof b === 'number') {
    if (op === 'add') return scale(a, 1, b);
    if (op === 'sub') return scale(a, 1, -b);
    if (op === 'mul') return scale(a, b, 0);
    return scale(a, 1 / b, 0);
  }
  backendFor(b, op);
  const sameShape = a.rank === b.rank && a.shape.every((d, i) => d === b.shape[i]);
  const cols = a.rank === 0 ? 1 : a.shape[a.rank - 1];
  const isRow = !sameShape && b.size === cols && b.shape[b.rank - 1] === cols && b.shape.every((d, i) => i === b.rank - 1 || d === 1);
  if (!sameShape && !isRow)
    throw new RangeError(`${op}: shapes ${formatShape(a.shape)} and ${formatShape(b.shape)} do not broadcast (b must have a's shape or be a row of ${cols})`);
  return withContiguous([a, b], ([ac, bc]) => {
    const out = empty(a.shape);
    be.binary(op, ac.buf(), bc.buf(), out.buf(), a.size, sameShape ? a.size : cols);
    return out;
  });
}

export const add = (a: Tensor, b: Tensor | number): Tensor => elementwise('add', a, b);
export const sub = (a: Tensor, b: Tensor | number): Tensor => elementwise('sub', a, b);
export const mul = (a: Tensor, b: Tensor | number): Tensor => elementwise('mul', a, b);
export const div = (a: Tensor, b: Tensor | number): Tensor => elementwise('div', a, b);

/** alpha * a + beta */
export function scale(a: Tensor, alpha: number, beta = 0): Tensor {
  const be = backendFor(a, 'scale');
  if (typeof alpha !== 'number' || typeof beta !== 'number')
    throw new TypeError(`scale: alpha and beta must be numbers, got ${typeof alpha} and ${typeof beta}`);
  return withContiguous([a], ([ac]) => {
    const out = empty(a.shape);
    be.scale(ac.buf(), out.buf(), a.size, alpha, beta);
    return out;
  });
}

function unaryOp(op: UnaryOpName, a: Tensor): Tensor {
  const be = backendFor(a, op);
  return withContiguous([a], ([ac]) => {
    const out = empty(a.shape);
    be.unary(op, ac.buf(), out.buf(), a.size);
    return out;
  });
}

export const exp = (a: Tensor): Tensor => unaryOp('exp', a);
export const log = (a: Tensor): Tensor => unaryOp('log', a);
export const tanh = (a: Tensor): Tensor => unaryOp('tanh', a);
/** The exact GELU, 0.5 x (1 + erf(x / sqrt 2)) (BERT's). */
export const gelu = (a: Tensor): Tensor => unaryOp('gelu', a);
/** The tanh approximation of GELU (GPT-2's gelu_new). */
export const geluTanh = (a: Tensor): Tensor => unaryOp('gelu_tanh', a);
export const silu = (a: Tensor): Tensor => unaryOp('silu', a);
export const relu = (a: Tensor): Tensor => unaryOp('relu', a);
export const neg = (a: Tensor): Tensor => unaryOp('neg', a);
export const sqrt = (a: Tensor): Tensor => unaryOp('sqrt', a);
export const sigmoid = (a: Tensor): Tensor => unaryOp('sigmoid', a);

function lastDimOnly(a: Tensor, dim: number, op: string): void {
  if (a.rank === 0) throw new RangeError(`${op}: expected a tensor of rank >= 1, got a scalar`);
  if (normalizeDim(dim, a.rank, op) !== a.rank - 1)
    throw new RangeError(`${op}: only the last dimension is supported, got dim ${dim} of a rank-${a.rank} tensor`);
}

function reduce(op: ReduceOpName, a: Tensor, dim: number, keepDim: boolean): Tensor {
  const be: Backend = backendFor(a, op);
  lastDimOnly(a, dim, op);
  const cols = a.shape[a.rank - 1];
  const rows = a.size / Math.max(cols, 1);
  const lead = a.shape.slice(0, -1);
  return withContiguous([a], ([ac]) => {
    const out = empty(keepDim ? [...lead, 1] : lead);
    be.rowReduce(op, ac.buf(), out.buf(), cols === 0 ? sizeOf(lead) : rows, cols);
    return out;
  });
}

/** Sum over the last dimension. */
export const sum = (a: Tensor, dim = -1, keepDim = false): Tensor => reduce('sum', a, dim, keepDim);
export const max = (a: Tensor, dim = -1, keepDim = false): Tensor => reduce('max', a, dim, keepDim);
export const mean = (a: Tensor, dim = -1, keepDim = false): Tensor => reduce('mean', a, dim, keepDim);

/** Softmax over the last dimension. */
export function softmax(a: Tensor, dim = -1): Tensor {
  const be = backendFor(a, 'softmax');
  lastDimOnly(a, dim, 'softmax');
  const cols = a.shape[a.rank - 1];
  return withContiguous([a], ([ac]) => {
    const out = empty(a.shape);
    be.softmax(ac.buf(), out.buf(), cols === 0 ? 0 : a.size / cols, cols);
    return out;
  });
}

/** Writes value into every element of a contiguous tensor, in place. */
export function fill_(a: Tensor, value: number): Tensor {
  const be = backendFor(a, 'fill_');
  if (!a.isContiguous()) throw new Error('fill_: tensor is not contiguous');
  be.fill(a.buf(), a.size, value);
  return a;
}
