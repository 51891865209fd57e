/**
 * The backward pieces of the primitives: the unary ops' and softmax's gradients, column sums (a broadcast's
 * gradient) and the scatter that undoes a strided gather (a slice's or a transpose's gradient). What every
 * backend implements and the argument checks every backend runs before them (grad_ops_binding.cc keeps the
 * same checks and messages for callers that reach the addon directly).
 */
import { type KernelChecks, typeOf } from '../../backend/checks';
import type { Buf } from '../../backend/types';
import { UNARY_OP_NAMES, type UnaryOpName } from '../unary/table';

export interface GradOpsKernels {
  /** dx = dy * f'(x) for the unary op f over n elements, x being the op's INPUT for every op (exp and sqrt included). */
  unaryBackward(p: { op: UnaryOpName; x: Buf; dy: Buf; dx: Buf; n: number }): void;
  /** dx = y * (dy - sum(dy * y)) per row, for y = softmax(x) over [rows, cols]. */
  softmaxBackward(p: { y: Buf; dy: Buf; dx: Buf; rows: number; cols: number }): void;
  /** out[c] = sum over rows of a[r, c] ([rows, cols] contiguous); beta = 1 accumulates into out. */
  columnSum(p: { a: Buf; out: Buf; rows: number; cols: number; beta: number }): void;
  /** The inverse of stridedCopy: writes contiguous src into the view (shape, strides from dst.offset). */
  stridedScatter(p: { src: Buf; dst: Buf; shape: number[]; strides: number[] }): void;
}

export const gradOpsChecks: KernelChecks<GradOpsKernels> = {
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
};
