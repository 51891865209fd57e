/**
 * HF peft's default LoRA targets per model_type (TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING in
 * peft's src/peft/utils/constants.py, peft at 5d602fd) for the families peftjs builds; LoHa, LoKr and VeRA
 * use the same mapping, as HF's do. (IA)3's defaults are in tuners/ia3/defaults.ts (IA3_DEFAULT_TARGETS).
 */
import type { Module } from '../nn/module';
import { modelTypeOf } from './tuners/ia3/defaults';

export const LORA_DEFAULT_TARGETS: Readonly<Record<string, readonly string[]>> = Object.freeze({
  llama: ['q_proj', 'v_proj'],
  gpt2: ['c_attn'],
  bert: ['query', 'value'],
  qwen2: ['q_proj', 'v_proj'],
  qwen3: ['q_proj', 'v_proj'],
  gemma: ['q_proj', 'v_proj'],
  mistral: ['q_proj', 'v_proj'],
  gemma2: ['q_proj', 'v_proj'],
});

/** HF peft's default LoRA target modules for a model_type, or null when peft has none for it. */
export function loraDefaultTargets(modelType: string | null): string[] | null {
  const t = modelType === null ? undefined : LORA_DEFAULT_TARGETS[modelType];
  return t ? [...t] : null;
}

/**
 * HF peft's default LN tuning targets per model_type (TRANSFORMERS_MODELS_TO_LNTUNING_TARGET_MODULES_MAPPING
 * in constants.py, peft at 5d602fd), for the families peftjs builds.
 */
export const LN_TUNING_DEFAULT_TARGETS: Readonly<Record<string, readonly string[]>> = Object.freeze({
  llama: ['input_layernorm', 'post_attention_layernorm', 'norm'],
  gpt2: ['ln_1', 'ln_2', 'ln_f'],
  mistral: ['input_layernorm', 'post_attention_layernorm', 'norm'],
  gemma: ['input_layernorm', 'post_attention_layernorm', 'norm'],
  gemma2: ['input_layernorm', 'post_attention_layernorm', 'pre_feedforward_layernorm', 'post_feedforward_layernorm', 'norm'],
  qwen2: ['post_attention_layernorm'],
  qwen3: ['post_attention_layernorm'],
});

/**
 * With targetModules null: HF's default targets of the model's architecture from `table` (LoRA's mapping,
 * which LoHa, LoKr and VeRA share, unless another is given), written into the config as HF does.
 */
export function fillDefaultTargets(model: Module, config: { targetModules: string[] | string | null }, method: string,
  table: Readonly<Record<string, readonly string[]>> = LORA_DEFAULT_TARGETS): void {
  if (config.targetModules !== null) return;
  const type = modelTypeOf(model);
  const defaults = type === null ? undefined : table[type];
  if (!defaults)
    throw new Error(`${method}: no default target modules for model type '${type}' (known: ${Object.keys(table).join(', ')}); set targetModules`);
  config.targetModules = [...defaults];
}
