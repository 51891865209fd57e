/**
 * Filling a prompt-learning config from the model's config, as HF peft's _prepare_prompt_learning_config
 * and PeftModel._setup_prompt_encoder do: num_layers, token_dim and num_attention_heads from the model's
 * config.json keys; grouped-query attention makes a prefix as wide as the key/value heads; the encoder's
 * hidden size defaults to token_dim; num_transformer_submodules is 2 for encoder-decoders, else 1.
 */
import { Embedding } from '../../../nn/layers/embedding';
import type { Module } from '../../../nn/module';
import type { PromptLearningConfig } from './config';

/** The model's config.json object (snake_case keys). */
export function modelConfigDict(model: Module, op: string): Record<string, unknown> {
  const config = (model as unknown as { config?: { toDict?(): Record<string, unknown> } }).config;
  if (!config || typeof config.toDict !== 'function') throw new Error(`${op}: the model has no config to read num_layers / token_dim from; set them in the config`);
  return config.toDict();
}

function firstKey(dict: Record<string, unknown>, keys: string[], field: string, op: string): number {
  for (const k of keys) if (typeof dict[k] === 'number') return dict[k] as number;
  throw new Error(`${op}: cannot find ${field} in the model's config (looked for ${keys.join(', ')}); set it in the config`);
}

export function preparePromptLearningConfig(config: PromptLearningConfig, model: Module, op: string): void {
  const needs = config.numLayers === null || config.tokenDim === null || config.numAttentionHeads === null;
  const dict = needs || config.peftType === 'PREFIX_TUNING' ? modelConfigDict(model, op) : {};
  if (config.numLayers === null) config.numLayers = firstKey(dict, ['num_hidden_layers', 'num_layers', 'n_layer'], 'num_layers', op);
  if (config.tokenDim === null) config.tokenDim = firstKey(dict, ['hidden_size', 'n_embd', 'd_model'], 'token_dim', op);
  if (config.numAttentionHeads === null)
    config.numAttentionHeads = firstKey(dict, ['num_attention_heads', 'n_head', 'num_heads', 'encoder_attention_heads'], 'num_attention_heads', op);
  // HF (peft #1901): with grouped-query attention the prefix holds num_key_value_heads heads. HF applies it
  // on every preparation; a saved config already narrowed keeps its values (its heads equal the kv heads).
  const kvHeads = dict.num_key_value_heads;
  if (config.peftType === 'PREFIX_TUNING' && typeof kvHeads === 'number' && config.numAttentionHeads !== kvHeads) {
    config.tokenDim = (config.tokenDim / config.numAttentionHeads) * kvHeads;
    config.numAttentionHeads = kvHeads;
  }
  const withEncoder = config as PromptLearningConfig & { encoderHiddenSize?: number | null };
  if ('encoderHiddenSize' in withEncoder && withEncoder.encoderHiddenSize === null) withEncoder.encoderHiddenSize = config.tokenDim;
  if (config.numTransformerSubmodules === null) config.numTransformerSubmodules = config.taskType === 'SEQ_2_SEQ_LM' ? 2 : 1;
  if (config.numTransformerSubmodules !== 1)
    throw new Error(`${op}: num_transformer_submodules = ${config.numTransformerSubmodules} (encoder-decoder models) is not supported; the models here are decoder-only or encoder-only`);
}

/** The model's input embedding table (HF's word_embeddings). */
export function wordEmbeddings(model: Module, op: string): Embedding {
  const e = (model as unknown as { inputEmbeddings?: unknown }).inputEmbeddings;
  if (!(e instanceof Embedding)) throw new Error(`${op}: the model exposes no input embeddings (inputEmbeddings)`);
  return e;
}
