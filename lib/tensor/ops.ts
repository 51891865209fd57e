/**
 * Tensor operations on the active backend. Each checks its inputs (alive, on the backend's device,
 * compatible shapes) and names itself in every error; the kernels below assume what was checked here.
 * Every op records itself for autograd when an input requires a gradient (see autograd.ts); the
 * backward closures run with recording off and call these same ops.
 */
import type { Backend, BinaryOpName, Buf, ReduceOpName, UnaryOpName } from '../backend/types';
import { kernel } from './kernel_lookup';
import { installAutogradOps, isGradEnabled, noGrad, record } from './autograd';
import { empty, full } from './creation';
import { formatShape, normalizeDim, sizeOf } from './shape';
import { backendFor, Tensor } from './tensor';

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

/** A contiguous version of t made without recording (t itself when already contiguous). */
function packed(t: Tensor): Tensor {
  return t.isContiguous() ? t : noGrad(() => t.contiguous());
}

/** Runs fn with a gemm-ready version of t (itself, or a contiguous copy disposed after). */
function withMatrix<T>(t: Tensor, fn: (m: Tensor, layout: MatrixLayout) => T): T {
  const layout = matrixLayout(t);
  if (layout !== null) return fn(t, layout);
  const c = packed(t);
  try {
    return fn(c, { trans: false, ld: Math.max(c.shape[1], 1) });
  } finally {
    c.dispose();
  }
}

/** A [rows, cols] view of t's data without recording (a packed copy when t is not contiguous); dispose it after. */
function matrixView(t: Tensor, rows: number, cols: number): Tensor {
  const c = t.isContiguous() ? t : packed(t);
  const m = new Tensor(c.storage, [rows, cols], undefined, c.offset);
  if (c !== t) c.dispose();
  return m;
}

/** c = alpha op(a) op(b) + beta c (+ bias) for 2-D tensors, c contiguous; never recorded. */
function gemmInto(be: Backend, a: Tensor, b: Tensor, c: Tensor, alpha: number, beta: number, bias: Buf | null): void {
  const [m, k] = a.shape;
  const n = b.shape[1];
  withMatrix(a, (am, la) =>
    withMatrix(b, (bm, lb) =>
      be.gemm({ transA: la.trans, transB: lb.trans, m, n, k, alpha, a: am.buf(), lda: la.ld,
        b: bm.buf(), ldb: lb.ld, beta, c: c.buf(), ldc: Math.max(n, 1), bias })));
}

/** A transposed view of a matrix for gemm, outside the graph (no node, no gradient). */
function rawT(t: Tensor): Tensor {
  return new Tensor(t.storage, [t.shape[1], t.shape[0]], [t.strides[1], t.strides[0]], t.offset);
}

function checkBias(bias: Tensor, n: number, op: string): Buf {
  backendFor(bias, op);
  if (bias.size !== n || !bias.isContiguous())
    throw new RangeError(`${op}: bias must be a contiguous row of ${n} values, got ${formatShape(bias.shape)}`);
  return bias.buf();
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
  const n = b.shape[1];
  const bias = opts.bias !== undefined ? checkBias(opts.bias, n, 'matmul') : null;
  const alpha = opts.alpha ?? 1;
  const out = empty([a.shape[0], n]);
  gemmInto(be, a, b, out, alpha, 0, bias);
  // Each operand is kept only for the other's gradient, so the gradients take their shapes from here.
  const aShape = a.shape, bShape = b.shape;
  return record(out, 'matmul', [a, b, opts.bias], (g, [as, bs], needs) => {
    const da = needs[0] ? empty(aShape) : null, db = needs[1] ? empty(bShape) : null;
    if (da) gemmInto(be, g, rawT(bs), da, alpha, 0, null);
    if (db) gemmInto(be, rawT(as), g, db, alpha, 0, null);
    return [da, db, needs[2] ? columnSum(g) : null];
  }, [b.requiresGrad ? a : null, a.requiresGrad ? b : null]);
}

/**
 * y = x W^T + b for x [..., in], W [out, in] (PyTorch's Linear layout), b [out]. One node: the backward
 * computes dx = g W, dW = g^T x and db = the column sums of g, each only when its input needs it (a
 * frozen W never costs the dW product).
 */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor | null): Tensor {
  if (x.rank < 1 || weight.rank !== 2 || x.shape[x.rank - 1] !== weight.shape[1])
    throw new RangeError(`linear: expected x [..., ${weight.shape[1] ?? 'in'}] and weight [out, in], got x ${formatShape(x.shape)} and weight ${formatShape(weight.shape)}`);
  const be = backendFor(x, 'linear');
  backendFor(weight, 'linear');
  const lead = x.shape.slice(0, -1);
  const [n, k] = weight.shape;
  const rows = sizeOf(lead);
  const biasBuf = bias ? checkBias(bias, n, 'linear') : null;
  const y = empty([...lead, n]);
  withViews([[x, rows, k], [y, rows, n]], ([x2, y2]) => gemmInto(be, x2, rawT(weight), y2, 1, 0, biasBuf));
  return record(y, 'linear', [x, weight, bias], (g, [xs, ws], needs) => {
    const dx = needs[0] ? empty([...lead, k]) : null;
    const dw = needs[1] ? empty([n, k]) : null;
    let db: Tensor | null = null;
    withViews([[g, rows, n]], ([g2]) => {
      // BitFit's case (W frozen, x and b need gradients): dx = g W and db = column sums of g in one pass.
      if (dx && !dw && needs[2] && rows > 0 && be.kernels.has('bitfitBackward') && ws.isContiguous()) {
        db = empty([n]);
        withViews([[dx, rows, k]], ([dx2]) => kernel(be, 'bitfitBackward', 'linear')({ T: rows, K: k, N: n, dy: g2.buf(), w: ws.buf(), dx: dx2.buf(), dbias: db!.buf() }));
        return;
      }
      if (dx) withViews([[dx, rows, k]], ([dx2]) => gemmInto(be, g2, ws, dx2, 1, 0, null));
      if (dw) withViews([[xs, rows, k]], ([x2]) => gemmInto(be, rawT(g2), x2, dw, 1, 0, null));
      if (needs[2]) db = columnSum(g2);
    });
    return [dx, dw, db];
  }, [weight.requiresGrad ? x : null, weight]);
}

/** Runs fn with [rows, cols] matrix views of the given tensors, disposing the views after. */
function withViews<T>(specs: [Tensor, number, number][], fn: (views: Tensor[]) => T): T {
  const views = specs.map(([t, r, c]) => matrixView(t, r, c));
  try {
    return fn(views);
  } finally {
    views.forEach((v) => v.dispose());
  }
}

/** Runs fn on contiguous versions of the inputs, disposing the copies it made. */
function withContiguous<T>(ts: Tensor[], fn: (cs: Tensor[]) => T): T {
  const cs = ts.map(packed);
  try {
    return fn(cs);
  } finally {
    cs.forEach((c, i) => c !== ts[i] && c.dispose());
  }
}

/** out[c] = sum over rows of a 2-D (or flattened leading dims) tensor: the gradient of a broadcast row. */
export function columnSum(a: Tensor): Tensor {
  const be = backendFor(a, 'columnSum');
  const cols = a.rank === 0 ? 1 : a.shape[a.rank - 1];
  const rows = cols === 0 ? 0 : a.size / cols;
  const out = empty([cols]);
  withContiguous([a], ([ac]) => {
    if (be.kernels.has('columnSum')) kernel(be, 'columnSum', 'columnSum')({ a: ac.buf(), out: out.buf(), rows, cols, beta: 0 });
    else {
      const ones_ = full([1, rows], 1);
      withViews([[ac, rows, cols], [out, 1, cols]], ([a2, o2]) => gemmInto(be, ones_, a2, o2, 1, 0, null));
      ones_.dispose();
    }
  });
  return record(out, 'columnSum', [a], (g) => [broadcastRow(g, a.shape)]);
}

/** g [cols] repeated over the leading dimensions of shape. */
function broadcastRow(g: Tensor, shape: readonly number[]): Tensor {
  const z = full(shape, 0);
  const out = add(z, g);
  z.dispose();
  return out;
}

/** g [..., 1] (one value per row) repeated along the last dimension to cols. */
function broadcastColumn(g: Tensor, shape: readonly number[]): Tensor {
  const be = backendFor(g, 'broadcast');
  const cols = shape[shape.length - 1];
  const rows = sizeOf(shape) / Math.max(cols, 1);
  const out = empty(shape);
  const ones_ = full([1, cols], 1);
  withViews([[g, rows, 1], [out, rows, cols]], ([g2, o2]) => gemmInto(be, g2, ones_, o2, 1, 0, null));
  ones_.dispose();
  return out;
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
  const out = withContiguous([a, b], ([ac, bc]) => {
    const o = empty(a.shape);
    be.binary({ op, a: ac.buf(), b: bc.buf(), out: o.buf(), n: a.size, bLength: sameShape ? a.size : cols });
    return o;
  });
  // The gradient of a broadcast row is the column sum of the full-shape gradient.
  const forB = (g: Tensor): Tensor => {
    if (sameShape) return g;
    const s = columnSum(g);
    g.dispose();
    return s.reshape(b.shape);
  };
  return record(out, op, [a, b], (g, [as, bs], needs) => {
    switch (op) {
      case 'add': return [needs[0] ? g.reshape(g.shape) : null, needs[1] ? forB(g.reshape(g.shape)) : null];
      case 'sub': return [needs[0] ? g.reshape(g.shape) : null, needs[1] ? forB(neg(g)) : null];
      case 'mul': return [needs[0] ? mul(g, bs) : null, needs[1] ? forB(mul(g, as)) : null];
      default: {
        const da = div(g, bs);
        if (!needs[1]) return [da, null];
        const t = mul(da, out);
        const db = forB(neg(t));
        t.dispose();
        return [needs[0] ? da : (da.dispose(), null), db];
      }
    }
  }, op === 'add' || op === 'sub' ? [] : [op === 'mul' && !b.requiresGrad ? null : a, b]);
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
  const out = withContiguous([a], ([ac]) => {
    const o = empty(a.shape);
    be.scale({ a: ac.buf(), out: o.buf(), n: a.size, alpha, beta });
    return o;
  });
  return record(out, 'scale', [a], (g) => [scale(g, alpha, 0)]);
}

/** Any unary op by its name (lib/ops/unary/table.ts lists them), differentiable. */
export function unaryOp(op: UnaryOpName, a: Tensor): Tensor {
  const be = backendFor(a, op);
  const out = withContiguous([a], ([ac]) => {
    const o = empty(a.shape);
    be.unary({ op, a: ac.buf(), out: o.buf(), n: a.size });
    return o;
  });
  return record(out, op, [a], (g, [as]) => {
    const dx = empty(as.shape);
    withContiguous([as, g], ([x, gc]) => kernel(be, 'unaryBackward', op)({ op, x: x.buf(), dy: gc.buf(), dx: dx.buf(), n: as.size }));
    return [dx];
  }, [a]);
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
/** log(1 + e^x), linear past x = 20 (torch.nn.functional.softplus with beta 1, threshold 20). */
export const softplus = (a: Tensor): Tensor => unaryOp('softplus', a);

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
  const out = withContiguous([a], ([ac]) => {
    const o = empty(keepDim ? [...lead, 1] : lead);
    be.rowReduce({ op, a: ac.buf(), out: o.buf(), rows: cols === 0 ? sizeOf(lead) : rows, cols });
    return o;
  });
  if (op === 'max') return out;
  return record(out, op, [a], (g) => {
    const spread = broadcastColumn(g, a.shape);
    if (op === 'sum') return [spread];
    const m = scale(spread, 1 / Math.max(cols, 1));
    spread.dispose();
    return [m];
  });
}

/** Sum over the last dimension. */
export const sum = (a: Tensor, dim = -1, keepDim = false): Tensor => reduce('sum', a, dim, keepDim);
/** Max over the last dimension (not differentiable: its result carries no gradient). */
export const max = (a: Tensor, dim = -1, keepDim = false): Tensor => reduce('max', a, dim, keepDim);
export const mean = (a: Tensor, dim = -1, keepDim = false): Tensor => reduce('mean', a, dim, keepDim);

/** The sum of every element, as a one-element tensor [1]. */
export function sumAll(a: Tensor): Tensor {
  return overFlatView(a, (flat) => sum(flat, -1));
}

/** The mean of every element, as a one-element tensor [1]. */
export function meanAll(a: Tensor): Tensor {
  return overFlatView(a, (flat) => mean(flat, -1));
}

/**
 * Runs fn on a [1, size] view of a. Outside autograd the view is released at once: left to the GC it
 * would keep a's storage (gigabytes, for a large tensor) alive after a.dispose().
 */
function overFlatView(a: Tensor, fn: (flat: Tensor) => Tensor): Tensor {
  const flat = a.reshape([1, a.size]);
  const out = fn(flat);
  if (out.gradFn === null && flat !== a) flat.dispose();
  return out;
}

/** Softmax over the last dimension. */
export function softmax(a: Tensor, dim = -1): Tensor {
  const be = backendFor(a, 'softmax');
  lastDimOnly(a, dim, 'softmax');
  const cols = a.shape[a.rank - 1];
  const rows = cols === 0 ? 0 : a.size / cols;
  const out = withContiguous([a], ([ac]) => {
    const o = empty(a.shape);
    be.softmax({ a: ac.buf(), out: o.buf(), rows, cols });
    return o;
  });
  return record(out, 'softmax', [a], (g, [y]) => {
    const dx = empty(a.shape);
    withContiguous([g], ([gc]) => kernel(be, 'softmaxBackward', 'softmax')({ y: y.buf(), dy: gc.buf(), dx: dx.buf(), rows, cols }));
    return [dx];
  }, [out]);
}

/** Writes value into every element of a contiguous tensor, in place. */
export function fill_(a: Tensor, value: number): Tensor {
  const be = backendFor(a, 'fill_');
  if (!a.isContiguous()) throw new Error('fill_: tensor is not contiguous');
  // As torch: a tensor that requires a gradient may be written in place only where no graph is recorded.
  if (a.requiresGrad && isGradEnabled()) throw new Error(`fill_: tensor ${formatShape(a.shape)} requires a gradient; an in-place write would corrupt it (detach() it or run in noGrad)`);
  be.fill({ out: a.buf(), n: a.size, value });
  return a;
}

/** acc + g, reusing acc's memory when nothing else views it; acc is consumed (never use it after). */
function addInto(acc: Tensor, g: Tensor): Tensor {
  const be = backendFor(acc, 'backward');
  if (acc.isContiguous() && acc.storage.refs === 1 && g.isContiguous()) {
    be.binary({ op: 'add', a: acc.buf(), b: g.buf(), out: acc.buf(), n: acc.size, bLength: acc.size });
    return acc;
  }
  const out = add(acc, g);
  acc.dispose();
  return out;
}

installAutogradOps({ fullLike: (t, value) => full(t.shape, value), addInto });

/** Mean squared error over every element. */
export function mseLoss(a: Tensor, b: Tensor): Tensor {
  const d = sub(a, b);
  const sq = mul(d, d);
  const out = meanAll(sq);
  d.dispose();
  sq.dispose();
  return out;
}
