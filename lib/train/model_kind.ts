/**
 * What the trainer needs to know of a model: its task (causal LM or sequence classification), its pad id,
 * and how to call it. A PeftModel takes the same inputs as the model it wraps, so both are run the same way.
 */
import type { Tokenizer } from '../io/tokenizer';
import { BertForSequenceClassification } from '../nn/models/bert/model';
import type { Module } from '../nn/module';
import { LlamaForSequenceClassification } from '../nn/models/sequence_classification';
import { PeftModel } from '../peft/peft_model';
import type { IntTensor } from '../tensor/int_tensor';
import type { Tensor } from '../tensor/tensor';
import type { TaskKind } from './data/collate';

export interface ModelInputs {
  inputIds: IntTensor;
  attentionMask: IntTensor;
  labels: IntTensor;
}

export interface ModelOutput {
  logits: Tensor;
  loss: Tensor | null;
}

/** The model under any PeftModel wrapper. */
export function baseModelOf(model: Module): Module {
  return model instanceof PeftModel ? model.model : model;
}

export function taskOf(model: Module): TaskKind {
  const base = baseModelOf(model);
  return base instanceof BertForSequenceClassification || base instanceof LlamaForSequenceClassification ? 'seq_cls' : 'causal_lm';
}

/** The number of classes of a classification model (null for a causal LM). */
export function numLabelsOf(model: Module): number | null {
  const base = baseModelOf(model);
  return base instanceof BertForSequenceClassification || base instanceof LlamaForSequenceClassification ? base.config.numLabels : null;
}

/** The pad id: given, else the tokenizer's, else the config's pad_token_id, else its eos_token_id, else 0. */
export function padIdOf(model: Module, tokenizer: Tokenizer | null | undefined, given: number | undefined): number {
  if (given !== undefined) return given;
  if (tokenizer && tokenizer.padId !== null && tokenizer.padId !== undefined) return tokenizer.padId;
  const config = (baseModelOf(model) as unknown as { config?: { padTokenId?: number | null; eosTokenId?: number | null } }).config;
  return config?.padTokenId ?? config?.eosTokenId ?? 0;
}

/** The config's vocabulary size, when the model has one. */
export function vocabSizeOf(model: Module): number | null {
  const v = (baseModelOf(model) as unknown as { config?: { vocabSize?: unknown } }).config?.vocabSize;
  return typeof v === 'number' ? v : null;
}

export function runModel(model: Module, inputs: ModelInputs): ModelOutput {
  const fn = (model as unknown as { forward?: (i: ModelInputs) => ModelOutput }).forward;
  if (typeof fn !== 'function') throw new TypeError(`Trainer: the model (${model.constructor.name}) has no forward(inputs)`);
  const out = fn.call(model, inputs);
  if (!out || typeof out !== 'object' || !('logits' in out)) throw new TypeError(`Trainer: ${model.constructor.name}.forward did not return {logits, loss}`);
  return out;
}
