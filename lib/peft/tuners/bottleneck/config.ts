/**
 * AdapterConfig: bottleneck adapters (Houlsby et al. 2019; Pfeiffer et al. 2021), a method HF peft lacks,
 * kept in peft's layout under its own peft_type 'BOTTLENECK_ADAPTER'. Field names follow the adapters
 * library (AdapterHub): reduction_factor, non_linearity; adapter_type picks the placement.
 */
import { PeftConfig, registerPeftConfig, type TaskType } from '../../config';

/** houlsby: an adapter after the attention sublayer's output and after the FFN's; pfeiffer: after the FFN only. */
export type AdapterType = 'houlsby' | 'pfeiffer';
export type AdapterNonLinearity = 'relu' | 'gelu' | 'swish' | 'silu' | 'tanh';

export const ADAPTER_TYPES: readonly AdapterType[] = ['houlsby', 'pfeiffer'];
export const NON_LINEARITIES: readonly AdapterNonLinearity[] = ['relu', 'gelu', 'swish', 'silu', 'tanh'];

export interface AdapterConfigFields {
  adapterType?: AdapterType;
  reductionFactor?: number;
  nonLinearity?: AdapterNonLinearity;
  /** Std of the down-projection's normal init (the up-projection starts at zero: the adapter is the identity). */
  initStd?: number;
  layersToTransform?: number[] | number | null;
  modulesToSave?: string[] | null;
  taskType?: TaskType | null;
  inferenceMode?: boolean;
  baseModelNameOrPath?: string | null;
}

/** Checks the fields AdapterConfig and CompacterConfig share; `what` names the config in the error. */
export function validatePlacement(what: string, c: { adapterType: string; reductionFactor: number; nonLinearity: string; layersToTransform: number[] | number | null }): void {
  if (!ADAPTER_TYPES.includes(c.adapterType as AdapterType))
    throw new RangeError(`${what}: adapterType must be 'houlsby' or 'pfeiffer', got '${c.adapterType}'`);
  if (typeof c.reductionFactor !== 'number' || !(c.reductionFactor > 0) || !Number.isFinite(c.reductionFactor))
    throw new RangeError(`${what}: reductionFactor must be a positive number, got ${c.reductionFactor}`);
  if (!NON_LINEARITIES.includes(c.nonLinearity as AdapterNonLinearity))
    throw new RangeError(`${what}: nonLinearity must be one of ${NON_LINEARITIES.join(', ')}, got '${c.nonLinearity}'`);
  const layers = c.layersToTransform;
  if (layers !== null && layers !== undefined && !(Array.isArray(layers) ? layers : [layers]).every((l) => Number.isInteger(l) && l >= 0))
    throw new RangeError(`${what}: layersToTransform must be block indices (non-negative integers), got ${JSON.stringify(layers)}`);
}

export class AdapterConfig extends PeftConfig {
  readonly peftType = 'BOTTLENECK_ADAPTER' as const;
  adapterType: AdapterType = 'houlsby';
  /** bottleneck = floor(hidden / reductionFactor), as the adapters library sizes it. */
  reductionFactor = 16;
  nonLinearity: AdapterNonLinearity = 'relu';
  initStd = 0.01;
  layersToTransform: number[] | number | null = null;
  modulesToSave: string[] | null = null;

  constructor(fields: AdapterConfigFields = {}) {
    super();
    this.init(fields);
    this.validate();
  }

  override validate(): void {
    validatePlacement('AdapterConfig', this);
    if (typeof this.initStd !== 'number' || !(this.initStd >= 0)) throw new RangeError(`AdapterConfig: initStd must be a number >= 0, got ${this.initStd}`);
  }
}

registerPeftConfig('BOTTLENECK_ADAPTER', AdapterConfig);
