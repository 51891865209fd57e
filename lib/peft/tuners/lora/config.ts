/** LoraConfig: HF peft's LoraConfig fields and defaults, camelCase. */
import { PeftConfig, registerPeftConfig, type TaskType } from '../../config';

export type LoraBias = 'none' | 'all' | 'lora_only';

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
  initLoraWeights?: boolean | 'gaussian';
  layersToTransform?: number[] | number | null;
  layersPattern?: string[] | string | null;
  rankPattern?: Record<string, number>;
  alphaPattern?: Record<string, number>;
  useDora?: boolean;
  taskType?: TaskType | null;
  inferenceMode?: boolean;
  baseModelNameOrPath?: string | null;
}

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
  initLoraWeights: boolean | 'gaussian' = true;
  layersToTransform: number[] | number | null = null;
  layersPattern: string[] | string | null = null;
  rankPattern: Record<string, number> = {};
  alphaPattern: Record<string, number> = {};
  useDora = false;

  constructor(fields: LoraConfigFields = {}) {
    super();
    this.init(fields);
    this.validate();
  }

  override validate(): void {
    if (!Number.isInteger(this.r) || this.r < 1) throw new RangeError(`LoraConfig: r must be a positive integer, got ${this.r}`);
    if (!(this.loraDropout >= 0 && this.loraDropout < 1)) throw new RangeError(`LoraConfig: loraDropout must be in [0, 1), got ${this.loraDropout}`);
    if (!['none', 'all', 'lora_only'].includes(this.bias)) throw new RangeError(`LoraConfig: bias must be 'none', 'all' or 'lora_only', got '${this.bias}'`);
    if (typeof this.loraAlpha !== 'number' || !Number.isFinite(this.loraAlpha)) throw new RangeError(`LoraConfig: loraAlpha must be a number, got ${this.loraAlpha}`);
  }

  /** The scale of the adapter's term: alpha / r, or alpha / sqrt(r) with rsLoRA. */
  scaling(r = this.r, alpha = this.loraAlpha): number {
    return this.useRslora ? alpha / Math.sqrt(r) : alpha / r;
  }
}

registerPeftConfig('LORA', LoraConfig);
