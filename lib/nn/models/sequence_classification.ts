/**
 * A decoder used as a classifier (HF's LlamaForSequenceClassification): a linear `score` head on the
 * hidden state of each sequence's last real token (the last one that is not padding),
 * or, with config.classifierPooling 'mean', on the mean of its real tokens' hidden states.
 */
import { fromArray } from '../../tensor/creation';
import { embedding } from '../../ops/embedding/op';
import { asIntTensor, type IntTensor } from '../../tensor/int_tensor';
import { crossEntropy } from '../../ops/cross_entropy/op';
import { matmul } from '../../tensor/ops';
import { concat } from '../../tensor/shape_ops';
import type { Tensor } from '../../tensor/tensor';
import { Linear } from '../layers/linear';
import { Module } from '../module';
import type { CausalLMInputs } from './causal_lm';
import { LlamaConfig, type LlamaLikeConfig } from './llama/config';
import { LlamaModel } from './llama/model';

export interface SequenceClassificationInputs extends Omit<CausalLMInputs, 'labels' | 'cache'> {
  /** [B] class ids. */
  labels?: IntTensor | null;
}

/**
 * [B * T] flags, 1 where the hidden states' position holds a real token: the attention mask's ones (under
 * prompt tuning it spans the virtual tokens too), and, with `byPadId` or without a mask, not padTokenId (the
 * positions before inputIds, virtual tokens, count as real). The last-token pooling takes both, as HF's
 * GenericForSequenceClassification pools by pad_token_id alone (so with pad = eos a trailing eos is not the
 * pooled token) and the mask keeps a batch padded with another id right; the mean pooling, peftjs's own, the
 * mask when there is one. With neither, every position.
 */
export function realTokenFlags(
  batch: number, time: number, inputIds: IntTensor | null | undefined, attentionMask: IntTensor | null | undefined, padTokenId: number | null,
  byPadId = false,
): Uint8Array {
  const flags = new Uint8Array(batch * time).fill(1);
  if (attentionMask) {
    if (attentionMask.shape[0] !== batch || attentionMask.shape[1] !== time)
      throw new RangeError(`LlamaForSequenceClassification: expected attentionMask [${batch}, ${time}], got [${attentionMask.shape.join(', ')}]`);
    for (let i = 0; i < flags.length; i++) flags[i] = attentionMask.data[i] !== 0 ? 1 : 0;
    if (!byPadId) return flags;
  }
  if (!inputIds || padTokenId === null) return flags;
  const cols = inputIds.shape[1];
  const virtual = time - cols;
  if (inputIds.shape[0] !== batch || virtual < 0)
    throw new RangeError(`LlamaForSequenceClassification: expected inputIds [${batch}, <= ${time}], got [${inputIds.shape.join(', ')}]`);
  for (let b = 0; b < batch; b++)
    for (let t = 0; t < cols; t++) if (inputIds.data[b * cols + t] === padTokenId) flags[b * time + virtual + t] = 0;
  return flags;
}

/**
 * Index into [B * T] of each row's last real token, as HF's GenericForSequenceClassification (v4.48+) finds it:
 * (arange(T) * non_pad_mask).argmax(-1), so left padding pools the last token too; a row with no real token
 * pools position 0. (v4.44's first pad - 1, modulo T, is the same token for right- or left-padded rows.)
 */
export function lastTokenIndex(flags: Uint8Array, batch: number, time: number): Int32Array {
  const out = new Int32Array(batch);
  for (let b = 0; b < batch; b++) {
    let last = 0;
    for (let t = time - 1; t > 0; t--) {
      if (flags[b * time + t]) {
        last = t;
        break;
      }
    }
    out[b] = last + b * time;
  }
  return out;
}

/**
 * [B, hidden]: each row's mean of h [B, T, hidden] over its real tokens (a row with none takes all T), as
 * one [1, T] x [T, hidden] product per row, so the backward spreads the gradient over those tokens.
 */
export function meanOverRealTokens(h: Tensor, flags: Uint8Array): Tensor {
  const [batch, time, hidden] = h.shape;
  const rows: Tensor[] = [];
  for (let b = 0; b < batch; b++) {
    const w = new Float32Array(time);
    let n = 0;
    for (let t = 0; t < time; t++) if (flags[b * time + t]) (w[t] = 1), n++;
    if (n === 0) (w.fill(1), (n = time));
    for (let t = 0; t < time; t++) w[t] /= n;
    rows.push(matmul(fromArray(w, [1, time]), h.slice(0, b, b + 1).reshape([time, hidden])));
  }
  return batch === 1 ? rows[0] : concat(rows, 0);
}

export class LlamaForSequenceClassification<C extends LlamaLikeConfig = LlamaConfig> extends Module {
  model: LlamaModel<C>;
  score: Linear;

  constructor(readonly config: C = new LlamaConfig() as unknown as C) {
    super();
    this.model = this.registerModule('model', new LlamaModel(config));
    this.score = this.registerModule('score', new Linear(config.hiddenSize, config.numLabels, { bias: false, init: config.initializerRange }));
  }

  /** logits [B, numLabels] from the last real token of each row (or their mean); loss when labels are given. */
  forward(inputs: SequenceClassificationInputs): { logits: Tensor; loss: Tensor | null } {
    const h = this.model.forward(inputs);
    const [batch, time, hidden] = h.shape;
    const mean = this.config.classifierPooling === 'mean';
    const flags = realTokenFlags(batch, time, inputs.inputIds, inputs.attentionMask, this.config.padTokenId, !mean);
    // Gathering rows is an embedding lookup into the [B * T, hidden] states (its backward scatters back).
    const pooled = mean
      ? meanOverRealTokens(h, flags)
      : embedding({ data: lastTokenIndex(flags, batch, time), shape: [batch] }, h.reshape([batch * time, hidden]));
    const logits = this.score.forward(pooled);
    const labels = inputs.labels ? asIntTensor(inputs.labels, 'LlamaForSequenceClassification') : null;
    return { logits, loss: labels ? crossEntropy(logits, labels) : null };
  }

  get inputEmbeddings() {
    return this.model.embed_tokens;
  }
}
