/**
 * The reference backward pieces of the primitives (unary and softmax gradients, column sums, the strided
 * scatter): plain loops over any float array, and the js backend's kernels over them.
 */
import { type Arr, at } from '../reference_helpers';
import { UNARY_OPS, type UnaryOpName } from '../unary/table';
import type { GradOpsKernels } from './kernel';

/** dx = dy * f'(x) over n elements. */
export function unaryBackward(op: UnaryOpName, x: Arr, dy: Arr, dx: Arr, n: number): void {
  const d = UNARY_OPS[op].df;
  for (let i = 0; i < n; i++) dx[i] = dy[i] * d(x[i]);
}

/** dx = y * (dy - sum(dy * y)) per row of [rows, cols]. */
export function softmaxBackward(y: Arr, dy: Arr, dx: Arr, rows: number, cols: number): void {
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let dot = 0;
    for (let j = 0; j < cols; j++) dot += dy[o + j] * y[o + j];
    for (let j = 0; j < cols; j++) dx[o + j] = y[o + j] * (dy[o + j] - dot);
  }
}

/** out[c] = beta * out[c] + sum_r a[r, c]; beta = 0 never reads out (so stale NaNs do not leak in). */
export function columnSum(a: Arr, out: Arr, rows: number, cols: number, beta: number): void {
  for (let c = 0; c < cols; c++) {
    let s = 0;
    for (let r = 0; r < rows; r++) s += a[r * cols + c];
    out[c] = beta === 0 ? s : beta * out[c] + s;
  }
}

/** dst[sum_d idx_d * strides[d]] = src[flat] over the row-major walk of shape (the inverse of stridedCopy). */
export function stridedScatter(src: Arr, dst: Arr, shape: number[], strides: number[]): void {
  const total = shape.reduce((x, y) => x * y, 1);
  const idx = new Array<number>(shape.length).fill(0);
  for (let flat = 0; flat < total; flat++) {
    let at = 0;
    for (let d = 0; d < shape.length; d++) at += idx[d] * strides[d];
    dst[at] = src[flat];
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
}

/** The js backend's kernels: the math above on float32 storage. */
export const jsGradOpsKernels: GradOpsKernels = {
  unaryBackward(p) {
    unaryBackward(p.op, at(p.x), at(p.dy), at(p.dx), p.n);
  },

  softmaxBackward(p) {
    softmaxBackward(at(p.y), at(p.dy), at(p.dx), p.rows, p.cols);
  },

  columnSum(p) {
    columnSum(at(p.a), at(p.out), p.rows, p.cols, p.beta);
  },

  stridedScatter(p) {
    stridedScatter(at(p.src), at(p.dst), p.shape, p.strides);
  },
};
