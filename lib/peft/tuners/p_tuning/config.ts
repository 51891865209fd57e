/** PromptEncoderConfig (P-tuning): HF peft's fields and defaults (encoderHiddenSize defaults to tokenDim when prepared). */
import { registerPeftConfig } from '../../config';
import { PromptLearningConfig, type PromptLearningConfigFields } from '../prompt_learning/config';

export type PromptEncoderReparameterizationType = 'MLP' | 'LSTM';

export interface PromptEncoderConfigFields extends PromptLearningConfigFields {
  encoderReparameterizationType?: PromptEncoderReparameterizationType;
  encoderHiddenSize?: number | null;
  encoderNumLayers?: number;
  encoderDropout?: number;
}

export class PromptEncoderConfig extends PromptLearningConfig {
  readonly peftType = 'P_TUNING' as const;
  encoderReparameterizationType: PromptEncoderReparameterizationType = 'MLP';
  encoderHiddenSize: number | null = null;
  encoderNumLayers = 2;
  encoderDropout = 0.0;

  constructor(fields: PromptEncoderConfigFields = {}) {
    super();
    this.init(fields);
    if (Object.keys(fields).length > 0) this.validate();
  }

  protected get what(): string {
    return 'PromptEncoderConfig';
  }

  override validate(): void {
    super.validate();
    if (!['MLP', 'LSTM'].includes(this.encoderReparameterizationType))
      throw new RangeError(`PromptEncoderConfig: encoderReparameterizationType must be 'MLP' or 'LSTM', got '${this.encoderReparameterizationType}'`);
    const h = this.encoderHiddenSize;
    if (h !== null && (typeof h !== 'number' || !Number.isInteger(h) || h < 1))
      throw new RangeError(`PromptEncoderConfig: encoderHiddenSize must be a positive integer or null, got ${String(h)}`);
    if (!Number.isInteger(this.encoderNumLayers) || this.encoderNumLayers < 1)
      throw new RangeError(`PromptEncoderConfig: encoderNumLayers must be a positive integer, got ${this.encoderNumLayers}`);
    if (!(this.encoderDropout >= 0 && this.encoderDropout < 1))
      throw new RangeError(`PromptEncoderConfig: encoderDropout must be in [0, 1), got ${this.encoderDropout}`);
  }
}

registerPeftConfig('P_TUNING', PromptEncoderConfig);
