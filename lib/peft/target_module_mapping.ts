/**
 * HF peft's default LoRA targets per model_type (TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING in
 * peft's src/peft/utils/constants.py, peft at 5d602fd) for the families peftjs builds. (IA)3's defaults
 * are in tuners/ia3/defaults.ts (IA3_DEFAULT_TARGETS).
 */
export const LORA_DEFAULT_TARGETS: Readonly<Record<string, readonly string[]>> = Object.freeze({
  llama: ['q_proj', 'v_proj'],
  gpt2: ['c_attn'],
  bert: ['query', 'value'],
  qwen2: ['q_proj', 'v_proj'],
  qwen3: ['q_proj', 'v_proj'],
  gemma: ['q_proj', 'v_proj'],
});

/** HF peft's default LoRA target modules for a model_type, or null when peft has none for it. */
export function loraDefaultTargets(modelType: string | null): string[] | null {
  const t = modelType === null ? undefined : LORA_DEFAULT_TARGETS[modelType];
  return t ? [...t] : null;
}
