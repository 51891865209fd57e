/** The js oracle for kernels with several inputs and outputs. */
import { type Tensor, withBackend } from '../../lib';

export function oracleMany(inputs: Tensor[], fn: (xs: Tensor[]) => Tensor[]): Float32Array[] {
  return withBackend('js', () => {
    const copies = inputs.map((t) => t.to('js'));
    const outs = fn(copies).map((t) => t.toFloat32Array());
    copies.forEach((c) => c.dispose());
    return outs;
  });
}
