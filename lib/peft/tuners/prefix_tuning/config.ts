/** PrefixTuningConfig: HF peft's fields and defaults (encoderHiddenSize defaults to tokenDim when prepared). */
import { registerPeftConfig } from '../../config';
import { PromptLearningConfig, type PromptLearningConfigFields } from '../prompt_learning/config';

export interface PrefixTuningConfigFields extends PromptLearningConfigFields {
  encoderHiddenSize?: number | null;
  prefixProjection?: boolean;
}

export class PrefixTuningConfig extends PromptLearningConfig {
  readonly peftType = 'PREFIX_TUNING' as const;
  encoderHiddenSize: number | null = null;
  prefixProjection = false;

  constructor(fields: PrefixTuningConfigFields = {}) {
    super();
    this.init(fields);
    if (Object.keys(fields).length > 0) this.validate();
  }

  protected get what(): string {
    return 'PrefixTuningConfig';
  }

  override validate(): void {
    super.validate();
    const h = this.encoderHiddenSize;
    if (h !== null && (typeof h !== 'number' || !Number.isInteger(h) || h < 1))
      throw new RangeError(`PrefixTuningConfig: encoderHiddenSize must be a positive integer or null, got ${String(h)}`);
  }
}

registerPeftConfig('PREFIX_TUNING', PrefixTuningConfig);
