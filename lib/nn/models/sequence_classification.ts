/**
 * A decoder used as a classifier (HF's LlamaForSequenceClassification): a linear `score` head on the
 * hidden state of each sequence's last real token (the one before the first pad token, or the last one).
 */
import { embedding } from '../../tensor/embedding_ops';
import { asIntTensor, type IntTensor } from '../../tensor/int_tensor';
import { crossEntropy } from '../../tensor/loss_ops';
import type { Tensor } from '../../tensor/tensor';
import { Linear } from '../layers/linear';
import { Module } from '../module';
import type { CausalLMInputs } from './causal_lm';
import { LlamaConfig } from './llama/config';
import { LlamaModel } from './llama/model';

export interface SequenceClassificationInputs extends Omit<CausalLMInputs, 'labels' | 'cache'> {
  /** [B] class ids. */
  labels?: IntTensor | null;
}

/** Index of each row's last real token: HF's (first pad position - 1), or T - 1 without padding. */
export function lastTokenIndex(ids: IntTensor, attentionMask: IntTensor | null | undefined, padTokenId: number | null): Int32Array {
  const [batch, time] = ids.shape;
  const out = new Int32Array(batch);
  for (let b = 0; b < batch; b++) {
    let last = time - 1;
    for (let t = 0; t < time; t++) {
      const pad = attentionMask ? attentionMask.data[b * time + t] === 0 : padTokenId !== null && ids.data[b * time + t] === padTokenId;
      if (pad) {
        last = t - 1;
        break;
      }
    }
    out[b] = Math.max(last, 0) + b * time;
  }
  return out;
}

export class LlamaForSequenceClassification extends Module {
  model: LlamaModel;
  score: Linear;

  constructor(readonly config: LlamaConfig = new LlamaConfig()) {
    super();
    this.model = this.registerModule('model', new LlamaModel(config));
    this.score = this.registerModule('score', new Linear(config.hiddenSize, config.numLabels, { bias: false, init: config.initializerRange }));
  }

  /** logits [B, numLabels] from the last real token of each row; loss when labels are given. */
  forward(inputs: SequenceClassificationInputs): { logits: Tensor; loss: Tensor | null } {
    const h = this.model.forward(inputs);
    const [batch, time, hidden] = h.shape;
    const rows = lastTokenIndex(inputs.inputIds, inputs.attentionMask, this.config.padTokenId);
    // Gathering rows is an embedding lookup into the [B * T, hidden] states (its backward scatters back).
    const pooled = embedding({ data: rows, shape: [batch] }, h.reshape([batch * time, hidden]));
    const logits = this.score.forward(pooled);
    const labels = inputs.labels ? asIntTensor(inputs.labels, 'LlamaForSequenceClassification') : null;
    return { logits, loss: labels ? crossEntropy(logits, labels) : null };
  }

  get inputEmbeddings() {
    return this.model.embed_tokens;
  }
}
