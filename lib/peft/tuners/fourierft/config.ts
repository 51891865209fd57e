/**
 * FourierFTConfig: HF peft's FourierFTConfig (src/peft/tuners/fourierft/config.py) fields and defaults,
 * camelCase here and snake_case in adapter_config.json: n_frequency (1000), scaling (150.0),
 * random_loc_seed (777), fan_in_fan_out, target_modules, exclude_modules, bias ('none' | 'all' |
 * 'fourier_only'), modules_to_save, layers_to_transform, layers_pattern, n_frequency_pattern ({}),
 * init_weights (false: the spectrum starts ~ N(0, 1), so a fresh adapter is not the identity; true: zeros).
 * __post_init__'s checks: a regex target_modules takes neither layers_to_transform nor layers_pattern, and
 * layers_pattern needs layers_to_transform.
 */
import { PeftConfig, registerPeftConfig, type TaskType } from '../../config';
import { checkBoolean, checkCommonFields, checkPositiveInt } from '../loha/lycoris';

export type FourierFTBias = 'none' | 'all' | 'fourier_only';

export interface FourierFTConfigFields {
  /** Learnable frequencies per adapted weight (the spectrum's length); at most in * out of each layer. */
  nFrequency?: number;
  /** Multiplies real(ifft2(spectrum)), as lora_alpha scales LoRA. */
  scaling?: number;
  /** Seeds torch's CPU generator whose randperm picks the frequencies' locations (the same on every layer). */
  randomLocSeed?: number;
  fanInFanOut?: boolean;
  targetModules?: string[] | string | null;
  excludeModules?: string[] | string | null;
  bias?: FourierFTBias;
  modulesToSave?: string[] | null;
  layersToTransform?: number[] | number | null;
  layersPattern?: string[] | string | null;
  /** nFrequency per module: the first key k with the module path matching `.*\.k$` (HF's lookup). */
  nFrequencyPattern?: Record<string, number>;
  /** false (HF's default): spectrum ~ N(0, 1); true: zeros, the identity. */
  initWeights?: boolean;
  taskType?: TaskType | null;
  inferenceMode?: boolean;
  baseModelNameOrPath?: string | null;
}

export class FourierFTConfig extends PeftConfig {
  readonly peftType = 'FOURIERFT' as const;
  nFrequency = 1000;
  scaling = 150.0;
  randomLocSeed = 777;
  fanInFanOut = false;
  targetModules: string[] | string | null = null;
  excludeModules: string[] | string | null = null;
  bias: FourierFTBias = 'none';
  modulesToSave: string[] | null = null;
  layersToTransform: number[] | number | null = null;
  layersPattern: string[] | string | null = null;
  nFrequencyPattern: Record<string, number> = {};
  initWeights = false;

  constructor(fields: FourierFTConfigFields = {}) {
    super();
    this.init(fields);
    this.validate();
  }

  override validate(): void {
    const cls = 'FourierFTConfig';
    checkPositiveInt(cls, 'nFrequency', this.nFrequency);
    if (typeof this.scaling !== 'number' || !Number.isFinite(this.scaling)) throw new TypeError(`${cls}: scaling must be a number, got ${JSON.stringify(this.scaling)}`);
    if (typeof this.randomLocSeed !== 'number' || !Number.isSafeInteger(this.randomLocSeed))
      throw new TypeError(`${cls}: randomLocSeed must be an integer (torch.Generator().manual_seed's seed), got ${JSON.stringify(this.randomLocSeed)}`);
    checkBoolean(cls, 'fanInFanOut', this.fanInFanOut);
    checkBoolean(cls, 'initWeights', this.initWeights);
    if (!['none', 'all', 'fourier_only'].includes(this.bias)) throw new RangeError(`${cls}: bias must be 'none', 'all' or 'fourier_only', got ${JSON.stringify(this.bias)}`);
    const pattern = this.nFrequencyPattern;
    if (pattern === null || typeof pattern !== 'object' || Array.isArray(pattern)) throw new TypeError(`${cls}: nFrequencyPattern must be an object of positive integers, got ${JSON.stringify(pattern)}`);
    for (const [k, v] of Object.entries(pattern)) checkPositiveInt(cls, `nFrequencyPattern['${k}']`, v);
    checkCommonFields(cls, this as unknown as Record<string, unknown>);
    if (typeof this.targetModules === 'string' && this.layersToTransform !== null && this.layersToTransform !== undefined)
      throw new RangeError(`${cls}: layersToTransform cannot be used when targetModules is a str (a regex)`);
    if (typeof this.targetModules === 'string' && this.layersPattern !== null && this.layersPattern !== undefined)
      throw new RangeError(`${cls}: layersPattern cannot be used when targetModules is a str (a regex)`);
  }
}

registerPeftConfig('FOURIERFT', FourierFTConfig);

/** HF's n_frequency lookup (FourierFTModel._create_and_replace): the first key k with re.match(`.*\.k$`, path). */
export function nFrequencyFor(config: FourierFTConfig, path: string): number {
  for (const [k, v] of Object.entries(config.nFrequencyPattern ?? {})) if (new RegExp(`^.*\\.${k}$`).test(path)) return v;
  return config.nFrequency;
}
