/** The BitFit kernel launched on tensors: shapes checked with the kernel's name, outputs allocated. */
import { empty } from '../../tensor/creation';
import { kernel } from '../../tensor/kernel_lookup';
import { backendFor, type Tensor } from '../../tensor/tensor';
import { expectShape, matrixDims } from '../tensor_checks';

/** BitFit's backward of a frozen linear layer: dbias = column sums of dy, dx = dy W (unless inputGrad is false). */
export function launchBitfitBackward(dy: Tensor, w: Tensor, opts: { inputGrad?: boolean } = {}): { dx: Tensor | null; dbias: Tensor } {
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
