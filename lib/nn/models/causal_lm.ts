/** What causal language models share: the shifted next-token loss and the output type. */
import type { IntTensor } from '../../tensor/int_tensor';
import { crossEntropy, IGNORE_INDEX } from '../../ops/cross_entropy/op';
import type { Tensor } from '../../tensor/tensor';
import type { KVCache } from './kv_cache';

export interface CausalLMInputs {
  inputIds: IntTensor;
  /** [B, T] (1 = token, 0 = padding); with a cache, [B, past + T]. */
  attentionMask?: IntTensor | null;
  /** [B, T] targets; the loss compares logits at t with labels at t + 1 (HF's shift), -100 ignored. */
  labels?: IntTensor | null;
  /** Positions of the tokens ([B, T]); default past .. past + T - 1. */
  positionIds?: IntTensor | null;
  cache?: KVCache | null;
  /** Extra key/value prefixes per layer (prefix tuning): [B, P, kvHeads * headDim] each. */
  prefixKeyValues?: { k: Tensor; v: Tensor }[] | null;
  /** Replaces the token embeddings lookup ([B, T, hidden]), e.g. with virtual tokens prepended. */
  inputsEmbeds?: Tensor | null;
}

export interface CausalLMOutput {
  logits: Tensor;
  loss: Tensor | null;
}

/**
 * HF's causal-LM loss without copying the logits: position t of row b is scored against labels[b, t + 1],
 * and each row's last position is ignored, so the mean runs over the same tokens as HF's shifted slices.
 */
export function shiftedLoss(logits: Tensor, labels: IntTensor): Tensor {
  const [batch, time] = labels.shape;
  const targets = new Int32Array(batch * time);
  for (let b = 0; b < batch; b++) {
    for (let t = 0; t < time; t++) targets[b * time + t] = t + 1 < time ? labels.data[b * time + t + 1] : IGNORE_INDEX;
  }
  return crossEntropy(logits, { data: targets, shape: [batch * time] });
}

/** The [B * Tk] key mask for attention from HF's attention_mask, or null when every key is visible. */
export function keyMaskOf(mask: IntTensor | null | undefined, batch: number, keys: number, prefix = 0): Int32Array | null {
  if (!mask && prefix === 0) return null;
  const total = keys;
  const out = new Int32Array(batch * total).fill(1);
  if (!mask) return out;
  const cols = mask.shape[1];
  if (mask.shape[0] !== batch || cols + prefix !== total)
    throw new RangeError(`attention mask: expected [${batch}, ${total - prefix}], got [${mask.shape.join(', ')}]`);
  for (let b = 0; b < batch; b++) for (let j = 0; j < cols; j++) out[b * total + prefix + j] = mask.data[b * cols + j] === 0 ? 0 : 1;
  return out;
}

/** Positions [B * T]: given ids, or past .. past + T - 1 for every row. */
export function positionsOf(positionIds: IntTensor | null | undefined, batch: number, time: number, past: number): Int32Array {
  if (positionIds) {
    if (positionIds.data.length !== batch * time) throw new RangeError(`position ids: expected ${batch * time} values, got ${positionIds.data.length}`);
    return positionIds.data;
  }
  const out = new Int32Array(batch * time);
  for (let b = 0; b < batch; b++) for (let t = 0; t < time; t++) out[b * time + t] = past + t;
  return out;
}
