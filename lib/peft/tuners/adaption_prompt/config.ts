/**
 * AdaptionPromptConfig: HF peft's AdaptionPromptConfig (src/peft/tuners/adaption_prompt/config.py), LLaMA-
 * Adapter's zero-init attention: target_modules (the attention submodule's name; null: the model type's, from
 * TRANSFORMERS_MODEL_CONFIG), adapter_len (prompt tokens per layer) and adapter_layers (how many of the top
 * layers get one). HF declares adapter_len and adapter_layers with default None and fails later without
 * them; here a config built with fields must name both (one read from a file is checked once filled).
 */
import { PeftConfig, registerPeftConfig, type TaskType } from '../../config';
import { checkPositiveInt } from '../loha/lycoris';

export interface AdaptionPromptConfigFields {
  /** The attention submodule's name ('self_attn' for Llama and Mistral, 'attn' for GPT-2: the default). */
  targetModules?: string | null;
  /** Number of adapter tokens to insert. */
  adapterLen?: number;
  /** Number of adapter layers, counted from the top. */
  adapterLayers?: number;
  taskType?: TaskType | null;
  inferenceMode?: boolean;
  baseModelNameOrPath?: string | null;
}

/** HF's TRANSFORMERS_MODEL_CONFIG: the model types adaption prompts support and their attention's name. */
export const ADAPTION_PROMPT_MODEL_TYPES: Readonly<Record<string, { targetModules: string }>> = Object.freeze({
  llama: { targetModules: 'self_attn' },
  mistral: { targetModules: 'self_attn' },
  gpt2: { targetModules: 'attn' },
});

export class AdaptionPromptConfig extends PeftConfig {
  readonly peftType = 'ADAPTION_PROMPT' as const;
  targetModules: string | null = null;
  adapterLen: number | null = null;
  adapterLayers: number | null = null;

  /** Without an argument (the registry's, before a file's fields are assigned) nothing is checked yet. */
  constructor(fields?: AdaptionPromptConfigFields) {
    super();
    if (fields === undefined) return;
    this.init(fields);
    this.validate();
  }

  override validate(): void {
    const cls = 'AdaptionPromptConfig';
    if (this.targetModules !== null && (typeof this.targetModules !== 'string' || this.targetModules === ''))
      throw new TypeError(`${cls}: targetModules must be the attention submodule's name (a string) or null, got ${JSON.stringify(this.targetModules)}`);
    checkPositiveInt(cls, 'adapterLen', this.adapterLen);
    checkPositiveInt(cls, 'adapterLayers', this.adapterLayers);
  }
}

registerPeftConfig('ADAPTION_PROMPT', AdaptionPromptConfig);
