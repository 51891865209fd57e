/**
 * LoKrConfig: HF peft's LoKrConfig (src/peft/tuners/lokr/config.py) fields and defaults, camelCase here and
 * snake_case in adapter_config.json: r, alpha, rank_dropout, module_dropout, use_effective_conv2d,
 * decompose_both, decompose_factor, rank_dropout_scale, target_modules, exclude_modules, init_weights
 * (true, false or 'lycoris'), layers_to_transform, layers_pattern, rank_pattern, alpha_pattern,
 * modules_to_save.
 */
import { registerPeftConfig, type TaskType } from '../../config';
import { checkBoolean, LycorisConfig } from '../loha/lycoris';

/** true: w1 (or w1_a) starts at zero; 'lycoris': w2 (or w2_b) does, as the LyCORIS repository; false: all random. */
export type LoKrInit = boolean | 'lycoris';

export interface LoKrConfigFields {
  r?: number;
  alpha?: number;
  rankDropout?: number;
  moduleDropout?: number;
  /** Conv2d/Conv1d only in HF; peftjs adapts Linear layers, so it must stay false. */
  useEffectiveConv2d?: boolean;
  /** Also split the left Kronecker factor w1 into w1_a w1_b (when r < max of its sides / 2). */
  decomposeBoth?: boolean;
  /** -1: factor each dimension near its square root; else the factor of each dimension (it must divide them). */
  decomposeFactor?: number;
  rankDropoutScale?: boolean;
  targetModules?: string[] | string | null;
  excludeModules?: string[] | string | null;
  initWeights?: LoKrInit;
  layersToTransform?: number[] | number | null;
  layersPattern?: string[] | string | null;
  rankPattern?: Record<string, number>;
  alphaPattern?: Record<string, number>;
  modulesToSave?: string[] | null;
  taskType?: TaskType | null;
  inferenceMode?: boolean;
  baseModelNameOrPath?: string | null;
}

/** Configs read from an adapter_config.json: a decompose_factor that does not divide takes HF's fallback. */
const fromFile = new WeakSet<LoKrConfig>();

export class LoKrConfig extends LycorisConfig {
  readonly peftType = 'LOKR' as const;
  decomposeBoth = false;
  decomposeFactor = -1;
  rankDropoutScale = false;
  initWeights: LoKrInit = true;

  constructor(fields: LoKrConfigFields = {}) {
    super();
    this.init(fields);
    this.validate();
  }

  protected configName(): string {
    return 'LoKrConfig';
  }

  /** init_weights is a boolean or 'lycoris' in HF's files: the base class would refuse the string. */
  override assignJSON(dict: Record<string, unknown>, file: string): void {
    const { init_weights: init, ...rest } = dict;
    if (init !== undefined) this.initWeights = init as LoKrInit;
    fromFile.add(this);
    super.assignJSON(rest, file);
  }

  /**
   * Whether a decompose_factor that does not divide a dimension falls back to HF's search (a file HF wrote
   * holds the shapes it made that way) rather than being refused (a new adapter).
   */
  get lenientFactor(): boolean {
    return fromFile.has(this);
  }

  override validate(): void {
    super.validate();
    checkBoolean('LoKrConfig', 'decomposeBoth', this.decomposeBoth);
    checkBoolean('LoKrConfig', 'rankDropoutScale', this.rankDropoutScale);
    const f = this.decomposeFactor;
    if (typeof f !== 'number' || !Number.isInteger(f) || (f !== -1 && f < 1))
      throw new RangeError(`LoKrConfig: decomposeFactor must be -1 or a positive integer, got ${JSON.stringify(f)}`);
    if (this.initWeights !== true && this.initWeights !== false && this.initWeights !== 'lycoris')
      throw new TypeError(`LoKrConfig: initWeights must be true, false or 'lycoris', got ${JSON.stringify(this.initWeights)}`);
  }
}

registerPeftConfig('LOKR', LoKrConfig);
