/**
 * The OFT tuner (HF's OFTModel, src/peft/tuners/oft/model.py at 5d602fd): every targeted Linear becomes an
 * OFTLinear holding the adapter (default targets: LoRA's mapping, as TRANSFORMERS_MODELS_TO_OFT_TARGET_
 * MODULES_MAPPING is a copy of it). Saved as HF saves it: `base_model.model.<module>.oft_R.weight`, plus
 * the biases that bias 'all' / 'oft_only' trains.
 */
import type { Module } from '../../../nn/module';
import type { PeftModel } from '../../peft_model';
import { registerTuner, type Tuner } from '../../tuner';
import { injectLinear, learnableBiases, warn } from './common';
import { OFTConfig } from './config';
import { OFTLinear } from './layer';

const oftTuner: Tuner<OFTConfig> = {
  peftType: 'OFT',
  adapterPrefixes: ['oft_R'],
  inject(peft: PeftModel, config: OFTConfig, name: string): void {
    config.validate();
    // dispatch_default: fan_in_fan_out is meaningless for torch.nn.Linear; HF warns and sets it false.
    if (config.fanInFanOut) {
      warn('fan_in_fan_out is set to True but the target module is `torch.nn.Linear`. Setting fan_in_fan_out to False.');
      config.fanInFanOut = false;
    }
    injectLinear(peft, config, 'OFT', (m: Module): m is OFTLinear => m instanceof OFTLinear, (base) => new OFTLinear(base),
      (layer) => layer.addAdapter(name, config), true);
  },
  trainedBaseParameters(peft: PeftModel, config: OFTConfig): string[] {
    return learnableBiases(peft, config.bias, '.oft_');
  },
};

registerTuner(oftTuner);
