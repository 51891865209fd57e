/**
 * BOFTConfig: HF peft's BOFTConfig (src/peft/tuners/boft/config.py at 5d602fd) fields and defaults,
 * camelCase here and snake_case in adapter_config.json: boft_block_size (4), boft_block_num (0),
 * boft_n_butterfly_factor (1), target_modules, exclude_modules, boft_dropout, fan_in_fan_out, bias
 * ('none' | 'all' | 'boft_only'), modules_to_save, init_weights, layers_to_transform, layers_pattern.
 * Exactly one of boft_block_size and boft_block_num is non-zero, as __post_init__ demands; the per-layer
 * checks (divisibility by in_features, the butterfly factor's limits) are BOFTLayer.update_layer's, made
 * when a layer is adapted (boft/layer.ts).
 */
import { PeftConfig, registerPeftConfig, type TaskType } from '../../config';
import { checkBoolean, checkCommonFields, checkProbability } from '../loha/lycoris';
import { checkBias, checkNonNegativeInt } from '../oft/common';

export type BOFTBias = 'none' | 'all' | 'boft_only';

export interface BOFTConfigFields {
  /** The block size (0: derived from boftBlockNum). */
  boftBlockSize?: number;
  /** The number of blocks per layer (0: derived from boftBlockSize). */
  boftBlockNum?: number;
  /** Butterfly factors: 1 is plain OFT; each more one doubles the effective block size. */
  boftNButterflyFactor?: number;
  targetModules?: string[] | string | null;
  excludeModules?: string[] | string | null;
  /** Multiplicative dropout: in training, some blocks of one random factor act as the identity. */
  boftDropout?: number;
  fanInFanOut?: boolean;
  bias?: BOFTBias;
  modulesToSave?: string[] | null;
  /** true: boft_R = 0 (the identity) and boft_s = 1; false: N(0, 0.1) and N(1, 0.1). */
  initWeights?: boolean;
  layersToTransform?: number[] | number | null;
  layersPattern?: string[] | string | null;
  taskType?: TaskType | null;
  inferenceMode?: boolean;
  baseModelNameOrPath?: string | null;
}

export class BOFTConfig extends PeftConfig {
  readonly peftType = 'BOFT' as const;
  boftBlockSize = 4;
  boftBlockNum = 0;
  boftNButterflyFactor = 1;
  targetModules: string[] | string | null = null;
  excludeModules: string[] | string | null = null;
  boftDropout = 0;
  fanInFanOut = false;
  bias: BOFTBias = 'none';
  modulesToSave: string[] | null = null;
  initWeights = true;
  layersToTransform: number[] | number | null = null;
  layersPattern: string[] | string | null = null;

  constructor(fields: BOFTConfigFields = {}) {
    super();
    this.init(fields);
    this.validate();
  }

  override validate(): void {
    const cls = 'BOFTConfig';
    checkNonNegativeInt(cls, 'boftBlockSize', this.boftBlockSize);
    checkNonNegativeInt(cls, 'boftBlockNum', this.boftBlockNum);
    const f = this.boftNButterflyFactor;
    // update_layer: "You can only specify boft_n_butterfly_factor {f} to be a positive integer number."
    if (typeof f !== 'number' || !Number.isInteger(f) || f < 1)
      throw new RangeError(`${cls}: boftNButterflyFactor must be a positive integer, got ${JSON.stringify(f)}`);
    checkProbability(cls, 'boftDropout', this.boftDropout);
    checkBoolean(cls, 'fanInFanOut', this.fanInFanOut);
    checkBoolean(cls, 'initWeights', this.initWeights);
    checkBias(cls, this.bias, 'boft_only');
    checkCommonFields(cls, this as unknown as Record<string, unknown>);
    if (this.boftBlockSize === 0 && this.boftBlockNum === 0)
      throw new RangeError(`${cls}: either boftBlockSize or boftBlockNum must be non-zero; currently boftBlockSize = 0 and boftBlockNum = 0`);
    if (this.boftBlockSize !== 0 && this.boftBlockNum !== 0)
      throw new RangeError(`${cls}: you can only specify either boftBlockSize (${this.boftBlockSize}) or boftBlockNum (${this.boftBlockNum}), but not both simultaneously, because boftBlockSize x boftBlockNum == in_features (set the other to 0)`);
  }
}

registerPeftConfig('BOFT', BOFTConfig);
