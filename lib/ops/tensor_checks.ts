/** Shape checks the ops make on their tensors before launching a kernel, each error naming the op. */
import { formatShape } from '../tensor/shape';
import { backendFor, type Tensor } from '../tensor/tensor';

/** Checks t is a contiguous tensor of exactly `shape` on the active backend. */
export function expectShape(op: string, name: string, t: Tensor, shape: number[]): void {
  backendFor(t, op);
  if (t.rank !== shape.length || t.shape.some((d, i) => d !== shape[i]))
    throw new RangeError(`${op}: ${name} must be ${formatShape(shape)}, got ${formatShape(t.shape)}`);
  if (!t.isContiguous()) throw new RangeError(`${op}: ${name} must be contiguous (call contiguous() first)`);
}

export function matrixDims(op: string, name: string, t: Tensor): [number, number] {
  if (t.rank !== 2) throw new RangeError(`${op}: ${name} must be 2-D, got ${formatShape(t.shape)}`);
  return [t.shape[0], t.shape[1]];
}
