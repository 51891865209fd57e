/**
 * LNTuningConfig: HF peft's LNTuningConfig (src/peft/tuners/ln_tuning/config.py): target_modules (null: the
 * architecture's norms, TRANSFORMERS_MODELS_TO_LNTUNING_TARGET_MODULES_MAPPING), exclude_modules and
 * modules_to_save, camelCase here and snake_case in adapter_config.json.
 */
import { PeftConfig, registerPeftConfig, type TaskType } from '../../config';
import { checkCommonFields } from '../loha/lycoris';

export interface LNTuningConfigFields {
  targetModules?: string[] | string | null;
  excludeModules?: string[] | string | null;
  modulesToSave?: string[] | null;
  taskType?: TaskType | null;
  inferenceMode?: boolean;
  baseModelNameOrPath?: string | null;
}

export class LNTuningConfig extends PeftConfig {
  readonly peftType = 'LN_TUNING' as const;
  targetModules: string[] | string | null = null;
  excludeModules: string[] | string | null = null;
  modulesToSave: string[] | null = null;

  constructor(fields: LNTuningConfigFields = {}) {
    super();
    this.init(fields);
    this.validate();
  }

  override validate(): void {
    checkCommonFields('LNTuningConfig', this as unknown as Record<string, unknown>);
  }
}

registerPeftConfig('LN_TUNING', LNTuningConfig);
