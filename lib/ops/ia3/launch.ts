/**
 * The (IA)3 kernels launched on tensors: shapes checked with the kernel's name, outputs allocated.
 * Not differentiable (op.ts is).
 */
import { empty } from '../../tensor/creation';
import { kernel } from '../../tensor/kernel_lookup';
import { backendFor, type Tensor } from '../../tensor/tensor';
import { expectShape, matrixDims } from '../tensor_checks';
import type { Ia3Mode } from './kernel';

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
export function launchIa3Forward(x: Tensor, w: Tensor, bias: Tensor | null, l: Tensor, mode: Ia3Mode, opts: { keepPre?: boolean } = {}): { y: Tensor; yPre: Tensor | null } {
  const op = 'ia3Forward';
  const be = backendFor(x, op);
  const { T, K, N } = ia3Shapes(op, x, w, l, mode);
  if (bias) expectShape(op, 'bias', bias, [N]);
  const y = empty([T, N]);
  const yPre = mode === 'output' && (opts.keepPre ?? true) ? empty([T, N]) : null;
  kernel(be, 'ia3Forward', op)({ mode, T, K, N, x: x.buf(), w: w.buf(), bias: bias ? bias.buf() : null, l: l.buf(), y: y.buf(), yPre: yPre ? yPre.buf() : null });
  return { y, yPre };
}

export function launchIa3Backward(x: Tensor, w: Tensor, l: Tensor, mode: Ia3Mode, dy: Tensor, yPre: Tensor | null, opts: { inputGrad?: boolean } = {}): { dx: Tensor | null; dl: Tensor } {
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
