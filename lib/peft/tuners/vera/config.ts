/**
 * VeraConfig: HF peft's VeraConfig (src/peft/tuners/vera/config.py) fields and defaults, camelCase here
 * and snake_case in adapter_config.json: r (256), target_modules, projection_prng_key, save_projection,
 * vera_dropout, d_initial, fan_in_fan_out, bias, modules_to_save, init_weights, layers_to_transform,
 * layers_pattern.
 */
import { PeftConfig, registerPeftConfig, type TaskType } from '../../config';
import { checkBoolean, checkCommonFields, checkPositiveInt } from '../loha/lycoris';

export type VeraBias = 'none' | 'all' | 'vera_only';

export interface VeraConfigFields {
  r?: number;
  targetModules?: string[] | string | null;
  /** Seeds torch's CPU generator (MT19937) that draws vera_A and vera_B, as HF does. */
  projectionPrngKey?: number;
  /** Write vera_A / vera_B into the adapter file (else they are regenerated from the key on loading). */
  saveProjection?: boolean;
  veraDropout?: number;
  /** vera_lambda_d's initial value (vera_lambda_b starts at zero). */
  dInitial?: number;
  fanInFanOut?: boolean;
  bias?: VeraBias;
  modulesToSave?: string[] | null;
  initWeights?: boolean;
  layersToTransform?: number[] | number | null;
  layersPattern?: string[] | string | null;
  taskType?: TaskType | null;
  inferenceMode?: boolean;
  baseModelNameOrPath?: string | null;
}

export class VeraConfig extends PeftConfig {
  readonly peftType = 'VERA' as const;
  r = 256;
  targetModules: string[] | string | null = null;
  projectionPrngKey = 0;
  saveProjection = true;
  veraDropout = 0;
  dInitial = 0.1;
  fanInFanOut = false;
  bias: VeraBias = 'none';
  modulesToSave: string[] | null = null;
  initWeights = true;
  layersToTransform: number[] | number | null = null;
  layersPattern: string[] | string | null = null;

  constructor(fields: VeraConfigFields = {}) {
    super();
    this.init(fields);
    this.validate();
  }

  override validate(): void {
    const cls = 'VeraConfig';
    checkPositiveInt(cls, 'r', this.r);
    const key = this.projectionPrngKey;
    if (typeof key !== 'number' || !Number.isSafeInteger(key) || key < 0)
      throw new RangeError(`${cls}: projectionPrngKey must be a non-negative integer, got ${JSON.stringify(key)}`);
    checkBoolean(cls, 'saveProjection', this.saveProjection);
    if (typeof this.veraDropout !== 'number' || !(this.veraDropout >= 0 && this.veraDropout < 1))
      throw new RangeError(`${cls}: veraDropout must be in [0, 1), got ${JSON.stringify(this.veraDropout)}`);
    if (typeof this.dInitial !== 'number' || !Number.isFinite(this.dInitial)) throw new TypeError(`${cls}: dInitial must be a number, got ${JSON.stringify(this.dInitial)}`);
    checkBoolean(cls, 'fanInFanOut', this.fanInFanOut);
    checkBoolean(cls, 'initWeights', this.initWeights);
    if (!['none', 'all', 'vera_only'].includes(this.bias)) throw new RangeError(`${cls}: bias must be 'none', 'all' or 'vera_only', got ${JSON.stringify(this.bias)}`);
    checkCommonFields(cls, this as unknown as Record<string, unknown>);
  }
}

registerPeftConfig('VERA', VeraConfig);
