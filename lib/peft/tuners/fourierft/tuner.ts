/**
 * The FourierFT tuner (HF's FourierFTModel, src/peft/tuners/fourierft/model.py): every targeted Linear or
 * GPT-2 Conv1D becomes (or already is) a FourierFTLinear, n_frequency from n_frequency_pattern; default
 * targets from HF's TRANSFORMERS_MODELS_TO_FOURIERFT_TARGET_MODULES_MAPPING (LoRA's, with gpt2 ->
 * mlp.c_proj); fan_in_fan_out corrected to the layer's layout as HF does (with its warning there). Saved as
 * HF saves it: `base_model.model.<module>.fourierft_spectrum` only (the locations are drawn again on load).
 */
import { Conv1D } from '../../../nn/layers/conv1d';
import { Linear } from '../../../nn/layers/linear';
import type { Module } from '../../../nn/module';
import type { PeftModel } from '../../peft_model';
import { fillDefaultTargets, LORA_DEFAULT_TARGETS } from '../../target_module_mapping';
import { findTargets, isTargeted } from '../../targets';
import { registerTuner, type Tuner } from '../../tuner';
import { FourierFTConfig, nFrequencyFor } from './config';
import { FourierFTLinear } from './layer';

/** HF's TRANSFORMERS_MODELS_TO_FOURIERFT_TARGET_MODULES_MAPPING (constants.py at 5d602fd) for peftjs's families. */
export const FOURIERFT_DEFAULT_TARGETS: Readonly<Record<string, readonly string[]>> = Object.freeze({
  ...LORA_DEFAULT_TARGETS,
  gpt2: ['mlp.c_proj'],
});

const fourierftTuner: Tuner<FourierFTConfig> = {
  peftType: 'FOURIERFT',
  adapterPrefixes: ['fourierft_spectrum'],

  inject(peft: PeftModel, config: FourierFTConfig, name: string): void {
    const model = peft.model;
    fillDefaultTargets(model, config, 'FourierFT', FOURIERFT_DEFAULT_TARGETS);
    config.validate();
    const accept = (m: Module) => m instanceof Linear || m instanceof Conv1D || m instanceof FourierFTLinear;
    for (const [key, m] of model.namedModules()) {
      if (key === '' || !isTargeted(config, key, m) || accept(m)) continue;
      throw new TypeError(`FourierFT: target module '${key}' (${m.constructor.name}) is not supported; currently, only the following modules are supported: Linear (and GPT-2's Conv1D)`);
    }
    for (const [path, m] of findTargets(model, config, accept, 'FourierFT')) {
      const layer = m instanceof FourierFTLinear ? m : new FourierFTLinear(m as Linear | Conv1D);
      if (layer !== m) model.setSubmodule(path, layer);
      config.fanInFanOut = layer.fanInFanOut;
      layer.addAdapter(name, { nFrequency: nFrequencyFor(config, path), scaling: config.scaling, randomLocSeed: config.randomLocSeed, initWeights: config.initWeights }, path);
    }
  },

  trainedBaseParameters(peft: PeftModel, config: FourierFTConfig): string[] {
    if (config.bias === 'none') return [];
    return peft.model.namedParameters().map(([p]) => p).filter((p) => {
      if (!p.endsWith('.bias') || p.includes('.fourierft_')) return false;
      return config.bias === 'all' || p.endsWith('.base_layer.bias');
    });
  },
};

registerTuner(fourierftTuner);
