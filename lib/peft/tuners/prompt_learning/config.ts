/**
 * PromptLearningConfig: the fields HF peft's prompt-learning methods share (prompt tuning, prefix tuning,
 * P-tuning). token_dim, num_layers, num_attention_heads and num_transformer_submodules may be left null:
 * they are filled from the model's config when the adapter is added (model_config.ts), as HF does.
 */
import { PeftConfig, type TaskType } from '../../config';

export interface PromptLearningConfigFields {
  numVirtualTokens?: number;
  tokenDim?: number | null;
  numTransformerSubmodules?: number | null;
  numAttentionHeads?: number | null;
  numLayers?: number | null;
  modulesToSave?: string[] | null;
  taskType?: TaskType | null;
  inferenceMode?: boolean;
  baseModelNameOrPath?: string | null;
  revision?: string | null;
}

export abstract class PromptLearningConfig extends PeftConfig {
  numVirtualTokens: number | null = null;
  tokenDim: number | null = null;
  numTransformerSubmodules: number | null = null;
  numAttentionHeads: number | null = null;
  numLayers: number | null = null;
  modulesToSave: string[] | null = null;

  /** The config's class name, for errors. */
  protected abstract get what(): string;

  override validate(): void {
    const n = this.numVirtualTokens;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 1)
      throw new RangeError(`${this.what}: numVirtualTokens must be a positive integer, got ${String(n)}`);
    for (const f of ['tokenDim', 'numTransformerSubmodules', 'numAttentionHeads', 'numLayers'] as const) {
      const v = this[f];
      if (v !== null && (typeof v !== 'number' || !Number.isInteger(v) || v < 1))
        throw new RangeError(`${this.what}: ${f} must be a positive integer or null, got ${String(v)}`);
    }
    if (this.modulesToSave !== null && !(Array.isArray(this.modulesToSave) && this.modulesToSave.every((m) => typeof m === 'string')))
      throw new TypeError(`${this.what}: modulesToSave must be a list of module names or null, got ${JSON.stringify(this.modulesToSave)}`);
  }

  /** The filled fields (after preparePromptLearningConfig): an error naming the one still missing. */
  dims(): { numVirtualTokens: number; tokenDim: number; numTransformerSubmodules: number; numAttentionHeads: number; numLayers: number } {
    for (const f of ['tokenDim', 'numTransformerSubmodules', 'numAttentionHeads', 'numLayers'] as const)
      if (this[f] === null) throw new Error(`${this.what}: ${f} is not set (the config was not prepared for a model)`);
    return {
      numVirtualTokens: this.numVirtualTokens!, tokenDim: this.tokenDim!, numTransformerSubmodules: this.numTransformerSubmodules!,
      numAttentionHeads: this.numAttentionHeads!, numLayers: this.numLayers!,
    };
  }
}

export function isPromptLearningConfig(c: PeftConfig): c is PromptLearningConfig {
  return c instanceof PromptLearningConfig;
}
