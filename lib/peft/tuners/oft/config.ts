/**
 * OFTConfig: HF peft's OFTConfig (src/peft/tuners/oft/config.py at 5d602fd) fields and defaults, camelCase
 * here and snake_case in adapter_config.json: r (0), oft_block_size (32), module_dropout, target_modules,
 * fan_in_fan_out, bias ('none' | 'all' | 'oft_only'), exclude_modules, init_weights, layers_to_transform,
 * layers_pattern, modules_to_save, coft, eps (6e-5), block_share, use_cayley_neumann (true),
 * num_cayley_neumann_terms (5). Exactly one of r and oft_block_size is non-zero (r x oft_block_size =
 * in_features), as __post_init__ demands; note that the default oft_block_size is 32, so giving r means
 * giving oftBlockSize: 0 too, as in HF. check_kwargs: a saved config without oft_block_size is from
 * before peft 0.14 and refused; use_cayley_neumann from before 0.18 gets HF's warning.
 */
import { PeftConfig, registerPeftConfig, type TaskType } from '../../config';
import { checkBoolean, checkCommonFields, checkPositiveInt, checkProbability } from '../loha/lycoris';
import { checkBias, checkNonNegativeInt, warn } from './common';

export type OFTBias = 'none' | 'all' | 'oft_only';

export interface OFTConfigFields {
  /** The number of blocks per layer (0: derived from oftBlockSize). */
  r?: number;
  /** The block size (0: derived from r); adjusted to a divisor of in_features with a warning, as HF does. */
  oftBlockSize?: number;
  /** Kept as HF keeps it: HF builds its MultiplicativeDropoutLayer but no forward of this commit calls it. */
  moduleDropout?: number;
  targetModules?: string[] | string | null;
  fanInFanOut?: boolean;
  bias?: OFTBias;
  excludeModules?: string[] | string | null;
  /** true: oft_R starts at zero (the identity rotation); false: N(0, 0.1). */
  initWeights?: boolean;
  layersToTransform?: number[] | number | null;
  layersPattern?: string[] | string | null;
  modulesToSave?: string[] | null;
  /** Constrained OFT: each forward projects every block's skew matrix into a ball of radius eps / sqrt(blocks). */
  coft?: boolean;
  eps?: number;
  /** One block's parameters shared by every block of a layer. */
  blockShare?: boolean;
  /** The Cayley map by its truncated Neumann series (true) or exactly, with an inverse (false). */
  useCayleyNeumann?: boolean;
  numCayleyNeumannTerms?: number;
  taskType?: TaskType | null;
  inferenceMode?: boolean;
  baseModelNameOrPath?: string | null;
}

export class OFTConfig extends PeftConfig {
  readonly peftType = 'OFT' as const;
  r = 0;
  oftBlockSize = 32;
  moduleDropout = 0;
  targetModules: string[] | string | null = null;
  fanInFanOut = false;
  bias: OFTBias = 'none';
  excludeModules: string[] | string | null = null;
  initWeights = true;
  layersToTransform: number[] | number | null = null;
  layersPattern: string[] | string | null = null;
  modulesToSave: string[] | null = null;
  coft = false;
  eps = 6e-5;
  blockShare = false;
  useCayleyNeumann = true;
  numCayleyNeumannTerms = 5;

  constructor(fields: OFTConfigFields = {}) {
    super();
    this.init(fields);
    this.validate();
  }

  override validate(): void {
    const cls = 'OFTConfig';
    checkNonNegativeInt(cls, 'r', this.r);
    checkNonNegativeInt(cls, 'oftBlockSize', this.oftBlockSize);
    checkProbability(cls, 'moduleDropout', this.moduleDropout);
    for (const f of ['fanInFanOut', 'initWeights', 'coft', 'blockShare', 'useCayleyNeumann'] as const) checkBoolean(cls, f, this[f]);
    checkBias(cls, this.bias, 'oft_only');
    if (typeof this.eps !== 'number' || !Number.isFinite(this.eps) || this.eps < 0) throw new RangeError(`${cls}: eps must be a non-negative number, got ${JSON.stringify(this.eps)}`);
    checkPositiveInt(cls, 'numCayleyNeumannTerms', this.numCayleyNeumannTerms);
    checkCommonFields(cls, this as unknown as Record<string, unknown>);
    // __post_init__'s two checks, with HF's wording.
    if (this.r === 0 && this.oftBlockSize === 0)
      throw new RangeError(`${cls}: either r or oftBlockSize must be non-zero; currently r = ${this.r} and oftBlockSize = ${this.oftBlockSize}`);
    if (this.r !== 0 && this.oftBlockSize !== 0)
      throw new RangeError(`${cls}: you can only specify either r (${this.r}) or oftBlockSize (${this.oftBlockSize}), but not both simultaneously, because r x oftBlockSize == in_features (set the other to 0)`);
  }

  /** OFTConfig.check_kwargs, run on a saved adapter_config.json before its fields are read. */
  override assignJSON(dict: Record<string, unknown>, file: string): void {
    if (!('oft_block_size' in dict))
      throw new RangeError(`${file}: OFTConfig: no 'oft_block_size': OFT has been updated since PEFT 0.14.0 and adapter weights from before are incompatible; retrain the adapter with a newer PEFT version`);
    if (dict.use_cayley_neumann === true) {
      const version = typeof dict.peft_version === 'string' ? dict.peft_version.split('@')[0] : '0.0.0';
      if (versionBelow(version, [0, 18, 0]))
        warn('The cayley-neumann parameterization has been slightly changed to be more numerically stable in PEFT 0.18.0. ' +
          'Please retrain your adapter weights with newer PEFT versions. Alternatively, downgrade PEFT to version 0.17.0 to use the old parameterization.');
    }
    super.assignJSON(dict, file);
  }
}

/** packaging.version's order on the release numbers (a pre-release of min itself counts as min here). */
function versionBelow(version: string, min: number[]): boolean {
  const parts = version.split('.').map((p) => parseInt(p, 10));
  for (let i = 0; i < min.length; i++) {
    const v = Number.isFinite(parts[i]) ? parts[i] : 0;
    if (v !== min[i]) return v < min[i];
  }
  return false;
}

registerPeftConfig('OFT', OFTConfig);
