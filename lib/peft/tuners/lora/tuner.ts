/** The LoRA tuner: wraps every targeted Linear/Conv1D in a LoraLinear and adds the adapter to it. */
import { Conv1D } from '../../../nn/layers/conv1d';
import { Linear } from '../../../nn/layers/linear';
import type { Module } from '../../../nn/module';
import type { PeftModel } from '../../peft_model';
import { findTargets, patternValue } from '../../targets';
import { registerTuner, type Tuner } from '../../tuner';
import { LoraConfig } from './config';
import { LoraLinear } from './layer';

const loraTuner: Tuner<LoraConfig> = {
  peftType: 'LORA',
  adapterPrefixes: ['lora_A', 'lora_B'],

  inject(peft: PeftModel, config: LoraConfig, name: string): void {
    if (config.useDora) throw new Error('LoraConfig: useDora is not supported yet');
    const model = peft.model;
    const accept = (m: Module) => m instanceof Linear || m instanceof Conv1D || m instanceof LoraLinear;
    for (const [path, m] of findTargets(model, config, accept, 'LoRA')) {
      const layer = m instanceof LoraLinear ? m : new LoraLinear(m as Linear | Conv1D);
      if (layer !== m) model.setSubmodule(path, layer);
      const r = patternValue(config.rankPattern, path, config.r);
      const alpha = patternValue(config.alphaPattern, path, config.loraAlpha);
      layer.addAdapter(name, { r, alpha, dropout: config.loraDropout, scale: config.scaling(r, alpha), init: config.initLoraWeights });
    }
  },

  trainedBaseParameters(peft: PeftModel, config: LoraConfig): string[] {
    if (config.bias === 'none') return [];
    return peft.model.namedParameters().map(([p]) => p).filter((p) => {
      if (!p.endsWith('.bias') || p.includes('.lora_')) return false;
      return config.bias === 'all' || p.endsWith('.base_layer.bias');
    });
  },
};

registerTuner(loraTuner);
