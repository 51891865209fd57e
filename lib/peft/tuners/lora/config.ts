/** LoraConfig: HF peft's LoraConfig fields and defaults, camelCase. */
import { PeftConfig, registerPeftConfig, type TaskType } from '../../config';
import { LoftQConfig, type LoftQConfigFields, toLoftQConfig } from './loftq_config';
import { loraWarn } from './warnings';

export type LoraBias = 'none' | 'all' | 'lora_only';

/**
 * HF's init_lora_weights: true: A as nn.Linear's default (kaiming-uniform, a = sqrt 5), B = 0; 'gaussian':
 * A ~ N(0, (1/r)^2), B = 0; false: both random; 'pissa' / 'pissa_niter_N' (principal singular vectors,
 * exact or randomized SVD with N subspace iterations) and 'olora' (QR) take A and B from the base weight
 * and leave the residual in it; 'orthogonal': B A = 0 from orthogonal halves (r even). See init.ts.
 * 'loftq' (with loftqConfig) quantizes the base weight and fits A, B to the quantization error (loftq.ts).
 * On embedding layers every value but false and 'loftq' gives HF's A = 0, B ~ N(0, 1).
 */
export type LoraInit = boolean | 'gaussian' | 'pissa' | `pissa_niter_${number}` | 'olora' | 'orthogonal' | 'loftq';

/** HF's other values, refused by name. */
const UNSUPPORTED_INITS = ['eva', 'corda', 'mica', 'lora_ga'];
const NAMED_INITS = ['gaussian', 'pissa', 'olora', 'orthogonal', 'loftq'];

export interface LoraConfigFields {
  r?: number;
  loraAlpha?: number;
  loraDropout?: number;
  targetModules?: string[] | string | null;
  excludeModules?: string[] | string | null;
  fanInFanOut?: boolean;
  bias?: LoraBias;
  useRslora?: boolean;
  modulesToSave?: string[] | null;
  initLoraWeights?: LoraInit;
  layersToTransform?: number[] | number | null;
  layersPattern?: string[] | string | null;
  rankPattern?: Record<string, number>;
  alphaPattern?: Record<string, number>;
  useDora?: boolean;
  /** HF's loftq_config: required with initLoraWeights 'loftq', ignored (with a warning) otherwise. */
  loftqConfig?: LoftQConfig | LoftQConfigFields | null;
  taskType?: TaskType | null;
  inferenceMode?: boolean;
  baseModelNameOrPath?: string | null;
}

/**
 * adapter_config.json keys of newer peft versions for features this port does not have, with the value
 * that means "off". A file that turns one on is refused rather than silently loaded as something else.
 */
export const UNSUPPORTED_WHEN_SET: Record<string, (v: unknown) => boolean> = {
  lora_bias: (v) => v === true,
  layer_replication: (v) => v !== null && v !== undefined,
  use_qalora: (v) => v === true,
  target_parameters: (v) => Array.isArray(v) ? v.length > 0 : v !== null && v !== undefined,
  trainable_token_indices: (v) => v !== null && v !== undefined,
  alora_invocation_tokens: (v) => v !== null && v !== undefined,
};

export class LoraConfig extends PeftConfig {
  readonly peftType = 'LORA' as const;
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
  rankPattern: Record<string, number> = {};
  alphaPattern: Record<string, number> = {};
  useDora = false;
  /** Written as HF writes it: {"loftq_bits": .., "loftq_iter": ..}, or {} when LoftQ is not used. */
  loftqConfig: LoftQConfig | null = null;

  constructor(fields: LoraConfigFields = {}) {
    super();
    this.init(fields);
    this.loftqConfig = toLoftQConfig(this.loftqConfig);
    // HF's __post_init__: a loftq_config without init_lora_weights='loftq' is dropped, with a warning.
    if (this.loftqConfig !== null && this.initLoraWeights !== 'loftq') {
      loraWarn("`loftq_config` specified but will be ignored when `init_lora_weights` is not 'loftq'.");
      this.loftqConfig = null;
    }
    this.validate();
  }

  /**
   * init_lora_weights is a boolean or a string in HF's files (the base class would refuse the string);
   * loftq_config is HF's dict ({} when unused).
   */
  override assignJSON(dict: Record<string, unknown>, file: string): void {
    const { init_lora_weights: init, loftq_config: loftq, ...rest } = dict;
    if (init !== undefined) this.initLoraWeights = init as LoraInit;
    if (loftq !== undefined) {
      try {
        this.loftqConfig = toLoftQConfig(loftq);
      } catch (e) {
        const err = e as Error;
        throw new (err instanceof TypeError ? TypeError : RangeError)(`${file}: ${err.message}`);
      }
      if (this.loftqConfig !== null && this.initLoraWeights !== 'loftq') {
        loraWarn("`loftq_config` specified but will be ignored when `init_lora_weights` is not 'loftq'.");
        this.loftqConfig = null;
      }
    }
    super.assignJSON(rest, file);
  }

  override toJSON(): Record<string, unknown> {
    const out = super.toJSON();
    out.loftq_config = this.loftqConfig === null ? {} : this.loftqConfig.toJSON();
    return out;
  }

  override validate(): void {
    if (!Number.isInteger(this.r) || this.r < 1) throw new RangeError(`LoraConfig: r must be a positive integer, got ${this.r}`);
    if (!(this.loraDropout >= 0 && this.loraDropout < 1)) throw new RangeError(`LoraConfig: loraDropout must be in [0, 1), got ${this.loraDropout}`);
    if (!['none', 'all', 'lora_only'].includes(this.bias)) throw new RangeError(`LoraConfig: bias must be 'none', 'all' or 'lora_only', got '${this.bias}'`);
    if (typeof this.loraAlpha !== 'number' || !Number.isFinite(this.loraAlpha)) throw new RangeError(`LoraConfig: loraAlpha must be a number, got ${this.loraAlpha}`);
    const init = this.initLoraWeights as unknown;
    if (typeof init === 'string' && UNSUPPORTED_INITS.includes(init.toLowerCase()))
      throw new RangeError(`LoraConfig: initLoraWeights '${init}' is not supported by peftjs (supported: true, false, 'gaussian', 'pissa', 'pissa_niter_N', 'olora', 'orthogonal', 'loftq')`);
    if (init !== true && init !== false && !NAMED_INITS.includes(init as string) &&
        !(typeof init === 'string' && /^pissa_niter_\d+$/.test(init)))
      throw new RangeError(`LoraConfig: initLoraWeights must be true, false, 'gaussian', 'pissa', 'pissa_niter_[number of iters]' (a non-negative integer), 'olora', 'orthogonal' or 'loftq', got ${JSON.stringify(init)}`);
    if (this.loftqConfig !== null && !(this.loftqConfig instanceof LoftQConfig))
      throw new TypeError(`LoraConfig: loftqConfig must be a LoftQConfig or null, got ${JSON.stringify(this.loftqConfig)}`);
    if (init === 'loftq' && this.loftqConfig === null)
      throw new RangeError("LoraConfig: loftqConfig must be specified when initLoraWeights is 'loftq' (e.g. new LoftQConfig({ loftqBits: 4, loftqIter: 1 }))");
    this.loftqConfig?.validate();
    if (init === 'orthogonal') {
      for (const [where, v] of [['r', this.r], ...Object.entries(this.rankPattern ?? {}).map(([p, x]) => [`rankPattern['${p}']`, x])] as [string, number][])
        if (v % 2 !== 0) throw new RangeError(`LoraConfig: initLoraWeights 'orthogonal' requires an even rank, got ${where} = ${v}`);
    }
    for (const [p, v] of Object.entries(this.rankPattern ?? {}))
      if (!Number.isInteger(v) || v < 1) throw new RangeError(`LoraConfig: rankPattern['${p}'] must be a positive integer, got ${JSON.stringify(v)}`);
    for (const [p, v] of Object.entries(this.alphaPattern ?? {}))
      if (typeof v !== 'number' || !Number.isFinite(v)) throw new RangeError(`LoraConfig: alphaPattern['${p}'] must be a number, got ${JSON.stringify(v)}`);
    for (const [key, on] of Object.entries(UNSUPPORTED_WHEN_SET))
      if (key in this.extra && on(this.extra[key])) throw new RangeError(`LoraConfig: '${key}' = ${JSON.stringify(this.extra[key])} is not supported`);
  }

  /** The scale of the adapter's term: alpha / r, or alpha / sqrt(r) with rsLoRA. */
  scaling(r = this.r, alpha = this.loraAlpha): number {
    return this.useRslora ? alpha / Math.sqrt(r) : alpha / r;
  }

  /** A copy with the same fields (the extra keys too). */
  clone(): LoraConfig {
    const c = new LoraConfig();
    c.assignJSON(JSON.parse(JSON.stringify(this.toJSON())), 'LoraConfig.clone');
    return c;
  }
}

registerPeftConfig('LORA', LoraConfig);
