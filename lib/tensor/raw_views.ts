/** Views of a tensor's data outside the autograd graph, for ops that hand matrices to fused kernels. */
import { sizeOf } from './shape';
import { Tensor } from './tensor';

/** x as a contiguous [rows, K] matrix (a packed copy when x is strided); dispose it after. */
export function rows2d(x: Tensor): Tensor {
  const k = x.shape[x.rank - 1];
  const c = x.isContiguous() ? x : x.copyPacked();
  const m = new Tensor(c.storage, [sizeOf(x.shape) / k, k], undefined, c.offset);
  if (c !== x) c.dispose();
  return m;
}
