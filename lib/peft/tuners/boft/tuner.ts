/**
 * The BOFT tuner (HF's BOFTModel, src/peft/tuners/boft/model.py at 5d602fd): every targeted Linear becomes
 * a BOFTLinear holding the adapter (default targets: LoRA's mapping, as TRANSFORMERS_MODELS_TO_BOFT_TARGET_
 * MODULES_MAPPING is a copy of it). Saved as HF saves it: `base_model.model.<module>.boft_R` and `.boft_s`
 * (the butterfly permutations boft_P are non-persistent buffers in HF: not in the file), plus the biases
 * that bias 'all' / 'boft_only' trains.
 */
import type { Module } from '../../../nn/module';
import type { PeftModel } from '../../peft_model';
import { registerTuner, type Tuner } from '../../tuner';
import { injectLinear, learnableBiases, warn } from '../oft/common';
import { BOFTConfig } from './config';
import type { Linear } from '../../../nn/layers/linear';
import { BOFTLinear } from './layer';

const boftTuner: Tuner<BOFTConfig> = {
  peftType: 'BOFT',
  adapterPrefixes: ['boft_R', 'boft_s'],
  inject(peft: PeftModel, config: BOFTConfig, name: string): void {
    config.validate();
    // _create_new_module: fan_in_fan_out is meaningless for torch.nn.Linear; HF warns and sets it false.
    if (config.fanInFanOut) {
      warn('fan_in_fan_out is set to True but the target module is `torch.nn.Linear`. Setting fan_in_fan_out to False.');
      config.fanInFanOut = false;
    }
    injectLinear(peft, config, 'BOFT', (m: Module): m is BOFTLinear => m instanceof BOFTLinear, (base) => new BOFTLinear(base as Linear),
      (layer, path) => layer.addAdapter(name, config, path));
  },
  trainedBaseParameters(peft: PeftModel, config: BOFTConfig): string[] {
    return learnableBiases(peft, config.bias, '.boft_');
  },
};

registerTuner(boftTuner);
