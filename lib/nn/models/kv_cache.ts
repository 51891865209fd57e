/**
 * Keys and values of the tokens seen so far, per layer, for incremental decoding: each step appends the
 * new tokens' keys and values and attends over all of them. Tensors are [B, T, kvHeads * headDim].
 */
import { keep } from '../../tensor/scope';
import { concat } from '../../tensor/shape_ops';
import type { Tensor } from '../../tensor/tensor';

export class KVCache {
  private readonly layers: ({ k: Tensor; v: Tensor } | null)[] = [];

  /** Number of cached positions (of layer 0). */
  get length(): number {
    const first = this.layers[0];
    return first ? first.k.shape[1] : 0;
  }

  /** Appends this step's k, v for a layer and returns the whole sequence's (kept across scopes). */
  update(layer: number, k: Tensor, v: Tensor): { k: Tensor; v: Tensor } {
    const prev = this.layers[layer];
    const next = prev ? { k: concat([prev.k, k], 1), v: concat([prev.v, v], 1) } : { k: k.contiguous(), v: v.contiguous() };
    keep(next.k);
    keep(next.v);
    if (prev) {
      prev.k.dispose();
      prev.v.dispose();
    }
    this.layers[layer] = next;
    return next;
  }

  dispose(): void {
    for (const e of this.layers) {
      e?.k.dispose();
      e?.v.dispose();
    }
    this.layers.length = 0;
  }
}
