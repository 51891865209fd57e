/**
 * PromptTuningConfig: HF peft's fields and defaults. TEXT initialisation tokenizes promptTuningInitText;
 * without a hub, the tokenizer is a Tokenizer object given as `tokenizer` (not saved) or a local folder or
 * file in tokenizerNameOrPath (saved, as HF saves the name).
 */
import type { Tokenizer } from '../../../io/tokenizer';
import { registerPeftConfig } from '../../config';
import { PromptLearningConfig, type PromptLearningConfigFields } from '../prompt_learning/config';

export type PromptTuningInit = 'RANDOM' | 'SAMPLE_VOCAB' | 'TEXT';

export interface PromptTuningConfigFields extends PromptLearningConfigFields {
  promptTuningInit?: PromptTuningInit;
  promptTuningInitText?: string | null;
  tokenizerNameOrPath?: string | null;
  tokenizerKwargs?: Record<string, unknown> | null;
  /** The tokenizer for TEXT initialisation (kept out of adapter_config.json). */
  tokenizer?: Tokenizer | null;
}

export class PromptTuningConfig extends PromptLearningConfig {
  readonly peftType = 'PROMPT_TUNING' as const;
  promptTuningInit: PromptTuningInit = 'RANDOM';
  promptTuningInitText: string | null = null;
  tokenizerNameOrPath: string | null = null;
  tokenizerKwargs: Record<string, unknown> | null = null;
  /** Not enumerable, so toJSON leaves it out. */
  declare tokenizer: Tokenizer | null;

  constructor(fields: PromptTuningConfigFields = {}) {
    super();
    Object.defineProperty(this, 'tokenizer', { value: null, writable: true, enumerable: false });
    const { tokenizer, ...rest } = fields;
    this.tokenizer = tokenizer ?? null;
    this.init(rest);
    if (Object.keys(fields).length > 0) this.validate();
  }

  protected get what(): string {
    return 'PromptTuningConfig';
  }

  override validate(): void {
    super.validate();
    if (!['RANDOM', 'SAMPLE_VOCAB', 'TEXT'].includes(this.promptTuningInit))
      throw new RangeError(`PromptTuningConfig: promptTuningInit must be 'RANDOM', 'SAMPLE_VOCAB' or 'TEXT', got '${this.promptTuningInit}'`);
    if (this.promptTuningInit === 'TEXT' && (typeof this.promptTuningInitText !== 'string' || this.promptTuningInitText === ''))
      throw new Error("PromptTuningConfig: promptTuningInit 'TEXT' needs promptTuningInitText");
    if (this.tokenizerKwargs && this.promptTuningInit !== 'TEXT')
      throw new Error("PromptTuningConfig: tokenizerKwargs only apply to promptTuningInit 'TEXT'");
  }
}

registerPeftConfig('PROMPT_TUNING', PromptTuningConfig);
