/**
 * HF peft's default (IA)3 targets per architecture (TRANSFORMERS_MODELS_TO_IA3_TARGET_MODULES_MAPPING and
 * ..._FEEDFORWARD_MODULES_MAPPING) for the families peftjs builds: the attention's keys and values are
 * scaled at their outputs, the feed-forward down-projection at its input. BERT's 'output.dense' matches
 * both the attention output and the feed-forward output projection, as in HF.
 */
export const IA3_DEFAULT_TARGETS: Readonly<Record<string, { targetModules: string[]; feedforwardModules: string[] }>> = Object.freeze({
  llama: { targetModules: ['k_proj', 'v_proj', 'down_proj'], feedforwardModules: ['down_proj'] },
  gpt2: { targetModules: ['c_attn', 'mlp.c_proj'], feedforwardModules: ['mlp.c_proj'] },
  bert: { targetModules: ['key', 'value', 'output.dense'], feedforwardModules: ['output.dense'] },
  qwen2: { targetModules: ['q_proj', 'v_proj', 'down_proj'], feedforwardModules: ['down_proj'] },
  qwen3: { targetModules: ['q_proj', 'v_proj', 'down_proj'], feedforwardModules: ['down_proj'] },
  gemma: { targetModules: ['q_proj', 'v_proj', 'down_proj'], feedforwardModules: ['down_proj'] },
  mistral: { targetModules: ['k_proj', 'v_proj', 'down_proj'], feedforwardModules: ['down_proj'] },
  gemma2: { targetModules: ['q_proj', 'v_proj', 'down_proj'], feedforwardModules: ['down_proj'] },
});

/** The model_type of a peftjs model (its config's modelType), or null. */
export function modelTypeOf(model: object): string | null {
  const config = (model as { config?: { modelType?: unknown } }).config;
  return typeof config?.modelType === 'string' ? config.modelType : null;
}
