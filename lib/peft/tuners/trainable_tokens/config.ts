/**
 * TrainableTokensConfig: HF peft's TrainableTokensConfig (src/peft/tuners/trainable_tokens/config.py):
 * token_indices (the rows of the embedding that train), target_modules (null: the model's input embedding,
 * by its path, as HF's _get_input_embeddings_name) and init_weights (true: the rows start as the embedding's,
 * so the adapter is a no-op until trained; false: N(0, 1)).
 */
import { PeftConfig, registerPeftConfig, type TaskType } from '../../config';
import { checkBoolean, checkCommonFields } from '../loha/lycoris';

export interface TrainableTokensConfigFields {
  tokenIndices?: number[];
  targetModules?: string[] | string | null;
  initWeights?: boolean;
  taskType?: TaskType | null;
  inferenceMode?: boolean;
  baseModelNameOrPath?: string | null;
}

export class TrainableTokensConfig extends PeftConfig {
  readonly peftType = 'TRAINABLE_TOKENS' as const;
  tokenIndices: number[] = [];
  targetModules: string[] | string | null = null;
  initWeights = true;

  constructor(fields: TrainableTokensConfigFields = {}) {
    super();
    this.init(fields);
    this.validate();
  }

  override validate(): void {
    const cls = 'TrainableTokensConfig';
    const ix = this.tokenIndices;
    if (!Array.isArray(ix) || !ix.every((i) => Number.isInteger(i) && i >= 0))
      throw new TypeError(`${cls}: tokenIndices must be a list of non-negative integers, got ${JSON.stringify(ix)}`);
    const seen = new Set<number>();
    for (const i of ix) {
      if (seen.has(i)) throw new RangeError(`${cls}: tokenIndices lists token ${i} twice`);
      seen.add(i);
    }
    checkBoolean(cls, 'initWeights', this.initWeights);
    checkCommonFields(cls, this as unknown as Record<string, unknown>);
  }
}

registerPeftConfig('TRAINABLE_TOKENS', TrainableTokensConfig);
