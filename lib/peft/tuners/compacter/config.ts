/**
 * CompacterConfig: Compacter (Mahabadi et al. 2021), bottleneck adapters whose projections are PHM layers
 * W = sum_i A_i (x) B_i with the "slow" A_i [n, n] shared by every adapter layer of the model and the
 * "fast" B_i = s_i t_i^T of rank phmRank per layer. HF peft lacks it: peft's layout, peft_type 'COMPACTER'.
 * Field names and defaults follow the adapters library's CompacterConfig (phm_dim 4, phm_rank 1,
 * reduction_factor 32, gelu, glorot-uniform factors, phm_c_init 'normal' with phm_init_range 1e-4).
 */
import { PeftConfig, registerPeftConfig, type TaskType } from '../../config';
import { type AdapterNonLinearity, type AdapterType, validatePlacement } from '../bottleneck/config';

/** How the per-layer factors s_i, t_i start: Xavier uniform / normal per factor matrix, or N(0, phmInitRange). */
export type HypercomplexInit = 'glorot-uniform' | 'glorot-normal' | 'normal';
/** How the shared rule A starts: N(0, phmInitRange) or U(-1, 1). */
export type PhmRuleInit = 'normal' | 'uniform';

export interface CompacterConfigFields {
  adapterType?: AdapterType;
  reductionFactor?: number;
  nonLinearity?: AdapterNonLinearity;
  phmDim?: number;
  phmRank?: number;
  hypercomplexNonlinearity?: HypercomplexInit;
  phmCInit?: PhmRuleInit;
  phmInitRange?: number;
  layersToTransform?: number[] | number | null;
  modulesToSave?: string[] | null;
  taskType?: TaskType | null;
  inferenceMode?: boolean;
  baseModelNameOrPath?: string | null;
}

export class CompacterConfig extends PeftConfig {
  readonly peftType = 'COMPACTER' as const;
  adapterType: AdapterType = 'houlsby';
  reductionFactor = 32;
  nonLinearity: AdapterNonLinearity = 'gelu';
  /** n: the number of Kronecker terms; the hidden and bottleneck sizes must be multiples of it. */
  phmDim = 4;
  /** The rank of each fast factor B_i = s_i t_i^T. */
  phmRank = 1;
  hypercomplexNonlinearity: HypercomplexInit = 'glorot-uniform';
  phmCInit: PhmRuleInit = 'normal';
  phmInitRange = 0.0001;
  layersToTransform: number[] | number | null = null;
  modulesToSave: string[] | null = null;

  constructor(fields: CompacterConfigFields = {}) {
    super();
    this.init(fields);
    this.validate();
  }

  override validate(): void {
    validatePlacement('CompacterConfig', this);
    if (!Number.isInteger(this.phmDim) || this.phmDim < 1) throw new RangeError(`CompacterConfig: phmDim must be a positive integer, got ${this.phmDim}`);
    if (!Number.isInteger(this.phmRank) || this.phmRank < 1) throw new RangeError(`CompacterConfig: phmRank must be a positive integer, got ${this.phmRank}`);
    if (!['glorot-uniform', 'glorot-normal', 'normal'].includes(this.hypercomplexNonlinearity))
      throw new RangeError(`CompacterConfig: hypercomplexNonlinearity must be 'glorot-uniform', 'glorot-normal' or 'normal', got '${this.hypercomplexNonlinearity}'`);
    if (!['normal', 'uniform'].includes(this.phmCInit)) throw new RangeError(`CompacterConfig: phmCInit must be 'normal' or 'uniform', got '${this.phmCInit}'`);
    if (typeof this.phmInitRange !== 'number' || !(this.phmInitRange > 0)) throw new RangeError(`CompacterConfig: phmInitRange must be a positive number, got ${this.phmInitRange}`);
  }
}

registerPeftConfig('COMPACTER', CompacterConfig);
