/** The LoHa tuner (HF's LoHaModel): wraps every targeted Linear in a LoHaLinear and adds the adapter to it. */
import type { Module } from '../../../nn/module';
import type { PeftModel } from '../../peft_model';
import { registerTuner, type Tuner } from '../../tuner';
import { LoHaConfig } from './config';
import { LoHaLinear } from './layer';
import { injectLycoris } from './lycoris';

const lohaTuner: Tuner<LoHaConfig> = {
  peftType: 'LOHA',
  adapterPrefixes: ['hada_w1_a', 'hada_w1_b', 'hada_w2_a', 'hada_w2_b'],
  inject(peft: PeftModel, config: LoHaConfig, name: string): void {
    injectLycoris(peft, config, name, 'LoHa', (m: Module): m is LoHaLinear => m instanceof LoHaLinear, (base) => new LoHaLinear(base),
      (layer, _path, spec) => layer.addAdapter(name, spec, config.initWeights), true);
  },
};

registerTuner(lohaTuner);
