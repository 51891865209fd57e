/**
 * LoHaConfig: HF peft's LoHaConfig (src/peft/tuners/loha/config.py) fields and defaults, camelCase here and
 * snake_case in adapter_config.json: r, alpha, rank_dropout, module_dropout, use_effective_conv2d,
 * target_modules, exclude_modules, init_weights, layers_to_transform, layers_pattern, rank_pattern,
 * alpha_pattern, modules_to_save.
 */
import { registerPeftConfig, type TaskType } from '../../config';
import { checkBoolean, LycorisConfig } from './lycoris';

export interface LoHaConfigFields {
  r?: number;
  alpha?: number;
  rankDropout?: number;
  moduleDropout?: number;
  /** Conv2d/Conv1d only in HF; peftjs adapts Linear layers, so it must stay false. */
  useEffectiveConv2d?: boolean;
  targetModules?: string[] | string | null;
  excludeModules?: string[] | string | null;
  /** true: hada_w2_b starts at zero (the adapter is the identity); false: every factor random. */
  initWeights?: boolean;
  layersToTransform?: number[] | number | null;
  layersPattern?: string[] | string | null;
  rankPattern?: Record<string, number>;
  alphaPattern?: Record<string, number>;
  modulesToSave?: string[] | null;
  taskType?: TaskType | null;
  inferenceMode?: boolean;
  baseModelNameOrPath?: string | null;
}

export class LoHaConfig extends LycorisConfig {
  readonly peftType = 'LOHA' as const;
  initWeights = true;

  constructor(fields: LoHaConfigFields = {}) {
    super();
    this.init(fields);
    this.validate();
  }

  protected configName(): string {
    return 'LoHaConfig';
  }

  override validate(): void {
    super.validate();
    checkBoolean('LoHaConfig', 'initWeights', this.initWeights);
  }
}

registerPeftConfig('LOHA', LoHaConfig);
