/**
 * The model kernels' argument checks (see checks.ts), the same for every backend and the same messages as
 * the addon's (csrc/binding/model_binding.cc), field by field in the same order. Token ids and targets are
 * checked in range here, so no backend reads past a table or a row.
 */
import { type ArgChecks, type KernelCheck, typeOf } from './checks';
import type { ModelKernels, NormParams } from './model_types';
import { UNARY_OP_NAMES } from './types';

type Checks = { [K in keyof ModelKernels]: KernelCheck<Parameters<ModelKernels[K]>[0]> };


/** An Int32Array (token ids, targets, positions) holding at least `needed` elements. */
function int32s(c: ArgChecks, name: string, v: unknown, needed: number): Int32Array {
  if (!(v instanceof Int32Array)) c.failType(`argument '${name}' must be an Int32Array, got ${typeOf(v)}`);
  if (v.length < needed) c.fail(`argument '${name}' has ${v.length} elements, expected at least ${needed}`);
  return v;
}

/** An integer that fits int32 (may be negative: ignore indices are often -100). */
function int32(c: ArgChecks, name: string, v: unknown): number {
  const d = c.number(name, v);
  if (!Number.isInteger(d) || d < -(2 ** 31) || d >= 2 ** 31) c.fail(`argument '${name}' must be a 32-bit integer, got ${d}`);
  return d;
}

/** A setting that must be finite and >= 0 (a norm's eps). */
function nonNegative(c: ArgChecks, name: string, v: unknown): number {
  const d = c.number(name, v);
  if (!(d >= 0) || !Number.isFinite(d)) c.fail(`${name} must be finite and >= 0, got ${d}`);
  return d;
}

/** What every norm shares: rows, cols >= 1, eps, x [rows, cols], weight [cols] | null. */
function normCommon(p: NormParams, c: ArgChecks): { rows: number; cols: number; n: number } {
  const rows = c.dim('rows', p.rows), cols = c.dim('cols', p.cols);
  if (cols === 0) c.fail('cols must be at least 1');
  nonNegative(c, 'eps', p.eps);
  const n = c.mul(rows, cols);
  c.buf('x', p.x, n);
  c.optBuf('weight', p.weight, cols);
  return { rows, cols, n };
}

/** Every id in [0, vocab). */
function checkIds(c: ArgChecks, v: unknown, n: number, vocab: number): void {
  const ids = int32s(c, 'ids', v, n);
  for (let k = 0; k < n; k++) {
    if (!(ids[k] >= 0 && ids[k] < vocab)) c.fail(`ids[${k}] = ${ids[k]} is out of range [0, ${vocab}) (vocab ${vocab})`);
  }
}

/** Every target in [0, vocab) or equal to ignoreIndex. */
function checkTargets(c: ArgChecks, v: unknown, rows: number, vocab: number, ignoreIndex: number): void {
  const t = int32s(c, 'targets', v, rows);
  for (let r = 0; r < rows; r++) {
    if (t[r] !== ignoreIndex && !(t[r] >= 0 && t[r] < vocab)) {
      c.fail(`row ${r} has target ${t[r]}, outside [0, ${vocab}) (vocab ${vocab}) and not ignoreIndex ${ignoreIndex}`);
    }
  }
}

export const modelChecks: Checks = {
  unaryBackward(p, c) {
    const op: unknown = p.op;
    if (typeof op !== 'string') c.failType(`argument 'op' must be a string, got ${typeOf(op)}`);
    else if (!(UNARY_OP_NAMES as readonly string[]).includes(op)) c.fail(`unknown unary op '${op}'`);
    const n = c.dim('n', p.n);
    c.buf('x', p.x, n);
    c.buf('dy', p.dy, n);
    c.buf('dx', p.dx, n);
  },

  softmaxBackward(p, c) {
    const rows = c.dim('rows', p.rows), cols = c.dim('cols', p.cols);
    const n = c.mul(rows, cols);
    c.buf('y', p.y, n);
    c.buf('dy', p.dy, n);
    c.buf('dx', p.dx, n);
  },

  columnSum(p, c) {
    const rows = c.dim('rows', p.rows), cols = c.dim('cols', p.cols);
    c.number('beta', p.beta);
    c.buf('a', p.a, c.mul(rows, cols));
    c.buf('out', p.out, cols);
  },

  stridedScatter(p, c) {
    const { total, span } = c.viewSpan('shape', p.shape, 'strides', p.strides);
    c.buf('src', p.src, total);
    c.buf('dst', p.dst, span);
  },

  rmsNormForward(p, c) {
    const { rows, n } = normCommon(p, c);
    c.buf('y', p.y, n);
    c.buf('rstd', p.rstd, rows);
  },

  rmsNormBackward(p, c) {
    const { rows, cols, n } = normCommon(p, c);
    c.buf('rstd', p.rstd, rows);
    c.buf('dy', p.dy, n);
    c.buf('dx', p.dx, n);
    c.optBuf('dweight', p.dweight, cols);
  },

  layerNormForward(p, c) {
    const { rows, cols, n } = normCommon(p, c);
    c.optBuf('bias', p.bias, cols);
    c.buf('y', p.y, n);
    c.buf('mean', p.mean, rows);
    c.buf('rstd', p.rstd, rows);
  },

  layerNormBackward(p, c) {
    const { rows, cols, n } = normCommon(p, c);
    c.buf('mean', p.mean, rows);
    c.buf('rstd', p.rstd, rows);
    c.buf('dy', p.dy, n);
    c.buf('dx', p.dx, n);
    c.optBuf('dweight', p.dweight, cols);
    c.optBuf('dbias', p.dbias, cols);
  },

  embeddingForward(p, c) {
    const n = c.dim('n', p.n), dim = c.dim('dim', p.dim), vocab = c.dim('vocab', p.vocab);
    checkIds(c, p.ids, n, vocab);
    c.buf('table', p.table, c.mul(vocab, dim));
    c.buf('out', p.out, c.mul(n, dim));
  },

  embeddingBackward(p, c) {
    const n = c.dim('n', p.n), dim = c.dim('dim', p.dim), vocab = c.dim('vocab', p.vocab);
    checkIds(c, p.ids, n, vocab);
    c.buf('dy', p.dy, c.mul(n, dim));
    c.buf('dtable', p.dtable, c.mul(vocab, dim));
  },

  rope(p, c) {
    const rows = c.dim('rows', p.rows), heads = c.dim('heads', p.heads), headDim = c.dim('headDim', p.headDim);
    const rotaryDim = c.dim('rotaryDim', p.rotaryDim), rowStride = c.dim('rowStride', p.rowStride);
    if (rotaryDim % 2 !== 0 || rotaryDim > headDim) c.fail(`rotaryDim must be even and at most headDim ${headDim}, got ${rotaryDim}`);
    const rowWidth = c.mul(heads, headDim);
    if (rows > 1 && rowStride < rowWidth) c.fail(`rowStride must be at least heads * headDim = ${rowWidth}, got ${rowStride}`);
    const theta = c.number('theta', p.theta);
    if (!(theta > 0) || !Number.isFinite(theta)) c.fail(`theta must be finite and > 0, got ${theta}`);
    c.boolean('interleaved', p.interleaved);
    c.boolean('inverse', p.inverse);
    c.buf('x', p.x, rows === 0 ? 0 : c.mul(rows - 1, rowStride) + rowWidth);
    int32s(c, 'positions', p.positions, rows);
  },

  crossEntropyForward(p, c) {
    const rows = c.dim('rows', p.rows), vocab = c.dim('vocab', p.vocab);
    const ignoreIndex = int32(c, 'ignoreIndex', p.ignoreIndex);
    c.buf('logits', p.logits, c.mul(rows, vocab));
    checkTargets(c, p.targets, rows, vocab, ignoreIndex);
    c.buf('losses', p.losses, rows);
    c.buf('lse', p.lse, rows);
  },

  crossEntropyBackward(p, c) {
    const rows = c.dim('rows', p.rows), vocab = c.dim('vocab', p.vocab);
    const ignoreIndex = int32(c, 'ignoreIndex', p.ignoreIndex);
    c.value('gradScale', p.gradScale);
    const n = c.mul(rows, vocab);
    c.buf('logits', p.logits, n);
    checkTargets(c, p.targets, rows, vocab, ignoreIndex);
    c.buf('lse', p.lse, rows);
    c.buf('dlogits', p.dlogits, n);
  },
};
