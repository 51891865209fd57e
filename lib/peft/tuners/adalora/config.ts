/**
 * AdaLoraConfig: HF peft's AdaLoraConfig (src/peft/tuners/adalora/config.py, peft 5d602fd), a LoraConfig
 * with AdaLoRA's schedule: target_r (8), init_r (12), tinit (0), tfinal (0), deltaT (1, spelled so in
 * adapter_config.json too), beta1 (0.85), beta2 (0.85), orth_reg_weight (0.5), total_step (required, > 0)
 * and rank_pattern (null; after rank allocation, each layer's `lora_E` key with one boolean per initial
 * rank: which triplets were kept). The LoRA fields it inherits (lora_alpha, lora_dropout, target_modules,
 * bias, ...) keep LoRA's defaults; HF's AdaLoRA ignores r (it warns when r is not 8), use_rslora and
 * alpha_pattern, and refuses DoRA and LoftQ. Checks in __post_init__'s order, each error naming the field.
 */
import { PeftConfig, registerPeftConfig, type TaskType } from '../../config';
import { checkCommonFields } from '../loha/lycoris';
import { UNSUPPORTED_WHEN_SET, type LoraBias, type LoraInit } from '../lora/config';
import { loraWarn } from '../lora/warnings';

/** Which of a layer's init_r triplets the allocator kept, by the path of its `lora_E` parameter. */
export type AdaLoraRankPattern = Record<string, boolean[]>;

export interface AdaLoraConfigFields {
  targetR?: number;
  initR?: number;
  tinit?: number;
  tfinal?: number;
  deltaT?: number;
  beta1?: number;
  beta2?: number;
  orthRegWeight?: number;
  totalStep?: number | null;
  rankPattern?: AdaLoraRankPattern | null;
  /** Not used by AdaLoRA (initR is the initial rank); HF warns when it is not 8. */
  r?: number;
  loraAlpha?: number;
  loraDropout?: number;
  targetModules?: string[] | string | null;
  excludeModules?: string[] | string | null;
  fanInFanOut?: boolean;
  bias?: LoraBias;
  useRslora?: boolean;
  modulesToSave?: string[] | null;
  /** Truthy: lora_E = 0 and lora_A, lora_B ~ N(0, 0.02^2) (the identity); false: all three ~ N(0, 1). */
  initLoraWeights?: LoraInit;
  layersToTransform?: number[] | number | null;
  layersPattern?: string[] | string | null;
  alphaPattern?: Record<string, number>;
  useDora?: boolean;
  taskType?: TaskType | null;
  inferenceMode?: boolean;
  baseModelNameOrPath?: string | null;
}

const CLS = 'AdaLoraConfig';

/**
 * What the adapter_config.json reader constructs: the defaults, unchecked (totalStep has none that
 * passes), for assignJSON to fill in and check.
 */
const FROM_FILE: AdaLoraConfigFields = Object.freeze({});

function checkInt(field: string, v: unknown, min: number): void {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min)
    throw new RangeError(`${CLS}: ${field} must be an integer >= ${min}, got ${JSON.stringify(v)}`);
}

function checkNumber(field: string, v: unknown): void {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new TypeError(`${CLS}: ${field} must be a number, got ${JSON.stringify(v)}`);
}

/** Python's truthiness of init_lora_weights (a string is true unless empty). */
export function initIsTruthy(init: LoraInit): boolean {
  return typeof init === 'string' ? init.length > 0 : init === true;
}

export class AdaLoraConfig extends PeftConfig {
  readonly peftType = 'ADALORA' as const;
  targetR = 8;
  initR = 12;
  tinit = 0;
  tfinal = 0;
  deltaT = 1;
  beta1 = 0.85;
  beta2 = 0.85;
  orthRegWeight = 0.5;
  totalStep: number | null = null;
  rankPattern: AdaLoraRankPattern | null = null;
  r = 8;
  loraAlpha = 8;
  loraDropout = 0;
  targetModules: string[] | string | null = null;
  excludeModules: string[] | string | null = null;
  fanInFanOut = false;
  bias: LoraBias = 'none';
  useRslora = false;
  modulesToSave: string[] | null = null;
  initLoraWeights: LoraInit = true;
  layersToTransform: number[] | number | null = null;
  layersPattern: string[] | string | null = null;
  alphaPattern: Record<string, number> = {};
  useDora = false;

  constructor(fields: AdaLoraConfigFields = {}) {
    super();
    this.init(fields);
    if (fields === FROM_FILE) return;
    this.validate();
    // HF's __post_init__ warns once, when the config is made (not each time it is checked again).
    if (this.r !== 8)
      loraWarn('Note that `r` is not used in AdaLora and will be ignored.If you intended to set the initial rank, use `init_r` instead.');
  }

  /** HF writes `deltaT` as it is spelled in Python, not snake_cased. */
  override toJSON(): Record<string, unknown> {
    const out = super.toJSON();
    out.deltaT = out.delta_t;
    delete out.delta_t;
    return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  }

  /**
   * rank_pattern holds boolean lists here (LoRA's holds numbers) and init_lora_weights a boolean or a
   * string: both are checked by validate() rather than by the base class's type-of-default rule.
   */
  override assignJSON(dict: Record<string, unknown>, file: string): void {
    const { init_lora_weights: init, rank_pattern: pattern, ...rest } = dict;
    if (init !== undefined) this.initLoraWeights = init as LoraInit;
    if (pattern !== undefined) this.rankPattern = pattern as AdaLoraRankPattern | null;
    super.assignJSON(rest, file);
  }

  override validate(): void {
    if (this.useDora) throw new RangeError(`${CLS}: useDora: ADALORA does not support DoRA`);
    const loftq = this.extra.loftq_config;
    if (loftq !== null && loftq !== undefined && typeof loftq === 'object' && Object.keys(loftq).length > 0)
      throw new RangeError(`${CLS}: loftq_config: ADALORA does not support LOFTQ`);
    checkCommonFields(CLS, this as unknown as Record<string, unknown>);
    if (typeof this.targetModules === 'string' && this.layersToTransform !== null && this.layersToTransform !== undefined)
      throw new RangeError(`${CLS}: layersToTransform cannot be used when targetModules is a str (a regex)`);
    if (this.totalStep === null || this.totalStep === undefined || typeof this.totalStep !== 'number' || !(this.totalStep > 0) || !Number.isInteger(this.totalStep))
      throw new RangeError(`${CLS}: totalStep: AdaLoRA does not work when totalStep is ${JSON.stringify(this.totalStep ?? null)}, supply an integer > 0`);
    checkNumber('orthRegWeight', this.orthRegWeight);
    if (this.orthRegWeight < 0) throw new RangeError(`${CLS}: orthRegWeight should be greater than or equal to 0, got ${this.orthRegWeight}`);
    checkInt('targetR', this.targetR, 0);
    checkInt('initR', this.initR, 0);  // HF: "r should be a positive integer or 0"
    checkInt('tinit', this.tinit, 0);
    checkInt('tfinal', this.tfinal, 0);
    checkInt('deltaT', this.deltaT, 1);  // HF divides by it (step % deltaT)
    checkNumber('beta1', this.beta1);
    checkNumber('beta2', this.beta2);
    if (this.tinit >= this.totalStep - this.tfinal)
      throw new RangeError(`${CLS}: tinit = ${this.tinit}, tfinal = ${this.tfinal}, totalStep = ${this.totalStep}: the supplied schedule values don't allow for a budgeting phase (tinit must be < totalStep - tfinal); decrease tfinal/tinit or increase totalStep`);
    checkNumber('loraAlpha', this.loraAlpha);
    if (!(this.loraDropout >= 0 && this.loraDropout < 1)) throw new RangeError(`${CLS}: loraDropout must be in [0, 1), got ${JSON.stringify(this.loraDropout)}`);
    if (!['none', 'all', 'lora_only'].includes(this.bias)) throw new RangeError(`${CLS}: bias must be 'none', 'all' or 'lora_only', got ${JSON.stringify(this.bias)}`);
    for (const f of ['fanInFanOut', 'useRslora', 'useDora'] as const)
      if (typeof this[f] !== 'boolean') throw new TypeError(`${CLS}: ${f} must be a boolean, got ${JSON.stringify(this[f])}`);
    if (typeof this.initLoraWeights !== 'boolean' && typeof this.initLoraWeights !== 'string')
      throw new TypeError(`${CLS}: initLoraWeights must be a boolean or a string, got ${JSON.stringify(this.initLoraWeights)}`);
    const pattern = this.rankPattern as unknown;
    if (pattern !== null && pattern !== undefined) {
      if (typeof pattern !== 'object' || Array.isArray(pattern))
        throw new TypeError(`${CLS}: rankPattern must be null or an object of boolean lists (one per initial rank), got ${JSON.stringify(pattern)}`);
      for (const [k, v] of Object.entries(pattern as Record<string, unknown>))
        if (!Array.isArray(v) || !v.every((b) => typeof b === 'boolean'))
          throw new TypeError(`${CLS}: rankPattern['${k}'] must be a list of booleans (the triplets kept), got ${JSON.stringify(v)}`);
    }
    for (const [key, on] of Object.entries(UNSUPPORTED_WHEN_SET))
      if (key !== 'loftq_config' && key in this.extra && on(this.extra[key])) throw new RangeError(`${CLS}: '${key}' = ${JSON.stringify(this.extra[key])} is not supported`);
  }
}

registerPeftConfig('ADALORA', class extends AdaLoraConfig {
  constructor() {
    super(FROM_FILE);
  }
});
