/**
 * Finite-difference checks, in float64, of the model kernels' backward references: for loss = sum(out * R)
 * with a fixed random R, each analytic gradient must match central differences. columnSum and
 * stridedScatter are themselves gradients (of a broadcast and of stridedCopy): they are checked as adjoints.
 */
import * as crossEntropy from '../../lib/ops/cross_entropy/reference';
import * as embedding from '../../lib/ops/embedding/reference';
import * as gradOps from '../../lib/ops/grad_ops/reference';
import * as norm from '../../lib/ops/norm/reference';
import type { Arr } from '../../lib/ops/reference_helpers';
import * as rope from '../../lib/ops/rope/reference';
import { UNARY_OP_NAMES, UNARY_OPS } from '../../lib/ops/unary/table';
import { hostRandom } from '../helpers/backends';
import { expectGradClose, numericGrad } from '../helpers/gradcheck';

const ref = { ...gradOps, ...norm, ...embedding, ...rope, ...crossEntropy };
const f64 = (n: number, seed: number, scale = 1, shift = 0) => Float64Array.from(hostRandom(n, seed), (v) => v * scale + shift);

function dot(a: Arr, b: Arr): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

describe('unaryBackward reference', () => {
  it.each(UNARY_OP_NAMES)('%s', (op) => {
    const n = 41;
    // Ops defined on x > 0 only get positive inputs; relu is checked away from its kink at 0.
    const x = UNARY_OPS[op].domain === 'positive' ? f64(n, 1, 1.5, 2) : f64(n, 1, 4);
    if (op === 'relu') for (let i = 0; i < n; i++) if (Math.abs(x[i]) < 1e-3) x[i] = 0.5;
    const R = f64(n, 2);
    const loss = () => { let s = 0; for (let i = 0; i < n; i++) s += UNARY_OPS[op].f(x[i]) * R[i]; return s; };
    const dx = new Float64Array(n);
    ref.unaryBackward(op, x, R, dx, n);
    expectGradClose(dx, numericGrad(x, loss), op);
  });
});

describe('softmaxBackward reference', () => {
  it.each([[1, 1], [3, 5], [2, 17]])('[%i, %i]', (rows, cols) => {
    const x = f64(rows * cols, 3, 3), R = f64(rows * cols, 4);
    const softmax = () => {
      const y = new Float64Array(rows * cols);
      for (let r = 0; r < rows; r++) {
        let m = -Infinity, s = 0;
        for (let j = 0; j < cols; j++) m = Math.max(m, x[r * cols + j]);
        for (let j = 0; j < cols; j++) s += Math.exp(x[r * cols + j] - m);
        for (let j = 0; j < cols; j++) y[r * cols + j] = Math.exp(x[r * cols + j] - m) / s;
      }
      return y;
    };
    const dx = new Float64Array(rows * cols);
    ref.softmaxBackward(softmax(), R, dx, rows, cols);
    expectGradClose(dx, numericGrad(x, () => dot(softmax(), R)), 'dx');
  });
});

describe('columnSum and stridedScatter are the adjoints of broadcast and stridedCopy', () => {
  it('<colsum(a), v> = <a, broadcast(v)>', () => {
    const rows = 5, cols = 7, a = f64(rows * cols, 5), v = f64(cols, 6), out = new Float64Array(cols);
    ref.columnSum(a, out, rows, cols, 0);
    let rhs = 0;
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) rhs += a[r * cols + c] * v[c];
    expect(dot(out, v)).toBeCloseTo(rhs, 12);
  });

  it('<stridedCopy(x), y> = <x, stridedScatter(y)> for a transposed slice', () => {
    const shape = [3, 4], strides = [1, 5], span = 2 * 1 + 3 * 5 + 1;  // columns 0..2 of a [4, 5] matrix, transposed
    const x = f64(span, 7), y = f64(12, 8);
    const copied = new Float64Array(12);
    for (let i = 0; i < 3; i++) for (let j = 0; j < 4; j++) copied[i * 4 + j] = x[i * strides[0] + j * strides[1]];
    const scattered = new Float64Array(span);
    ref.stridedScatter(y, scattered, shape, strides);
    expect(dot(copied, y)).toBeCloseTo(dot(x, scattered), 12);
  });
});

describe('norm references', () => {
  it.each([[1, 1], [3, 5], [2, 17]])('rmsNorm [%i, %i]', (rows, cols) => {
    const x = f64(rows * cols, 9, 2), weight = f64(cols, 10), R = f64(rows * cols, 11), eps = 1e-6;
    const forward = () => {
      const y = new Float64Array(rows * cols), rstd = new Float64Array(rows);
      ref.rmsNormForward({ rows, cols, x, weight, eps, y, rstd });
      return { y, rstd };
    };
    const loss = () => dot(forward().y, R);
    const dx = new Float64Array(rows * cols), dweight = new Float64Array(cols);
    ref.rmsNormBackward({ rows, cols, x, weight, eps, rstd: forward().rstd, dy: R, dx, dweight });
    expectGradClose(dx, numericGrad(x, loss), 'dx');
    expectGradClose(dweight, numericGrad(weight, loss), 'dweight');
  });

  it.each([[1, 2], [3, 5], [2, 17]])('layerNorm [%i, %i]', (rows, cols) => {
    const x = f64(rows * cols, 12, 2, 0.3), weight = f64(cols, 13), bias = f64(cols, 14), R = f64(rows * cols, 15), eps = 1e-5;
    const forward = () => {
      const y = new Float64Array(rows * cols), mean = new Float64Array(rows), rstd = new Float64Array(rows);
      ref.layerNormForward({ rows, cols, x, weight, bias, eps, y, mean, rstd });
      return { y, mean, rstd };
    };
    const loss = () => dot(forward().y, R);
    const { mean, rstd } = forward();
    const dx = new Float64Array(rows * cols), dweight = new Float64Array(cols), dbias = new Float64Array(cols);
    ref.layerNormBackward({ rows, cols, x, weight, eps, mean, rstd, dy: R, dx, dweight, dbias });
    expectGradClose(dx, numericGrad(x, loss), 'dx');
    expectGradClose(dweight, numericGrad(weight, loss), 'dweight');
    expectGradClose(dbias, numericGrad(bias, loss), 'dbias');
  });
});

describe('embedding reference', () => {
  it('dtable from repeated ids', () => {
    const n = 6, dim = 3, vocab = 4, ids = Int32Array.of(2, 0, 2, 3, 2, 0);
    const table = f64(vocab * dim, 16), R = f64(n * dim, 17);
    const loss = () => { const out = new Float64Array(n * dim); ref.embeddingForward(n, dim, ids, table, out); return dot(out, R); };
    const dtable = new Float64Array(vocab * dim);
    ref.embeddingBackward(n, dim, ids, R, dtable);
    expectGradClose(dtable, numericGrad(table, loss), 'dtable');
  });
});

describe('rope reference: the inverse rotation is the gradient', () => {
  it.each([[false, 8], [true, 8], [false, 4], [true, 6]])('interleaved=%s rotaryDim=%i', (interleaved, rotaryDim) => {
    const rows = 3, heads = 2, headDim = 8, rowStride = 20, span = (rows - 1) * rowStride + heads * headDim;
    const x = f64(span, 18), R = f64(span, 19), positions = Int32Array.of(0, 5, 1234);
    const p = { rows, heads, headDim, rotaryDim, rowStride, positions, theta: 10000, interleaved };
    const loss = () => { const y = Float64Array.from(x); ref.rope({ ...p, x: y, inverse: false }); return dot(y, R); };
    const grad = Float64Array.from(R);
    ref.rope({ ...p, x: grad, inverse: true });
    expectGradClose(grad, numericGrad(x, loss), 'dx');
  });
});

describe('crossEntropy reference', () => {
  it('dlogits with an ignored row and gradScale', () => {
    const rows = 4, vocab = 9, targets = Int32Array.of(3, -100, 0, 8), scale = 1 / 3;
    const logits = f64(rows * vocab, 20, 4);
    const losses = new Float64Array(rows), lse = new Float64Array(rows);
    const loss = () => { ref.crossEntropyForward(rows, vocab, logits, targets, -100, losses, lse); return losses.reduce((a, b) => a + b, 0) * scale; };
    loss();
    const dlogits = new Float64Array(rows * vocab);
    ref.crossEntropyBackward(rows, vocab, logits, targets, -100, lse, scale, dlogits);
    expectGradClose(dlogits, numericGrad(logits, loss), 'dlogits');
  });
});
