/**
 * Tensors filled straight from file bytes. On a CPU backend the loader writes into the tensor's own
 * memory (no intermediate Float32Array); elsewhere it fills a host array and uploads it once.
 */
import { getBackend } from '../backend';
import { empty, fromArray } from '../tensor/creation';
import type { Shape } from '../tensor/shape';
import { sizeOf } from '../tensor/shape';
import type { Tensor } from '../tensor/tensor';

export function hostTensor(shape: Shape, fill: (out: Float32Array) => void): Tensor {
  if (getBackend().device === 'cpu') {
    const t = empty(shape);
    try {
      fill(t.data);
    } catch (e) {
      t.dispose();
      throw e;
    }
    return t;
  }
  const values = new Float32Array(sizeOf(shape));
  fill(values);
  return fromArray(values, shape);
}
