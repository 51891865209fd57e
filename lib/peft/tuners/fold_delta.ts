/** Merging an adapter into its base weight, shared by the layers that can: W <- op(W, delta), in place. */
import { copyInto } from '../../nn/module';
import { noGrad } from '../../tensor/autograd';
import type { Tensor } from '../../tensor/tensor';

/** Writes op(weight, delta) into weight (add to merge, sub to unmerge) and disposes delta. */
export function foldDelta(weight: Tensor, delta: Tensor, op: (a: Tensor, b: Tensor) => Tensor): void {
  noGrad(() => {
    const next = op(weight, delta);
    copyInto(weight, next);
    next.dispose();
    delta.dispose();
  });
}
