/**
 * The LoRA tuner: wraps every targeted Linear/Conv1D in a LoraLinear (an Embedding in a LoraEmbedding)
 * and adds the adapter to it.
 */
import { QuantizedLinear } from '../../../quant/quantized_linear';
import { Conv1D } from '../../../nn/layers/conv1d';
import { Embedding } from '../../../nn/layers/embedding';
import { Linear } from '../../../nn/layers/linear';
import type { Module } from '../../../nn/module';
import type { Tensor } from '../../../tensor/tensor';
import type { PeftModel } from '../../peft_model';
import { savedKey } from '../../save_load';
import { fillDefaultTargets } from '../../target_module_mapping';
import { findTargets, patternValue } from '../../targets';
import { registerTuner, type Tuner } from '../../tuner';
import { allLinearNames } from './all_linear';
import { LoraConfig } from './config';
import { LoraEmbedding } from './embedding_layer';
import { LoraLinear } from './layer';
import { loraWarn } from './warnings';
import { addWeightedAdapter } from './weighted';

/** HF drops the `.weight` of DoRA's magnitude in saved keys (`...q_proj.lora_magnitude_vector`). */
const MAGNITUDE_SUFFIX = 'lora_magnitude_vector.weight';

const loraTuner: Tuner<LoraConfig> = {
  peftType: 'LORA',
  adapterPrefixes: ['lora_A', 'lora_B', 'lora_magnitude_vector', 'lora_embedding_A', 'lora_embedding_B'],

  inject(peft: PeftModel, config: LoraConfig, name: string): void {
    const model = peft.model;
    fillDefaultTargets(model, config, 'LoRA');  // as HF peft: the architecture's defaults when none are named
    if (typeof config.targetModules === 'string' && config.targetModules.toLowerCase() === 'all-linear')
      config.targetModules = allLinearNames(model, config.taskType);
    const accept = (m: Module) => m instanceof Linear || m instanceof Conv1D || m instanceof QuantizedLinear || m instanceof LoraLinear ||
      m instanceof Embedding || m instanceof LoraEmbedding;
    for (const [path, m] of findTargets(model, config, accept, 'LoRA')) {
      const r = patternValue(config.rankPattern, path, config.r);
      const alpha = patternValue(config.alphaPattern, path, config.loraAlpha);
      const spec = { r, alpha, dropout: config.loraDropout, scale: config.scaling(r, alpha), init: config.initLoraWeights, useDora: config.useDora,
        loftq: config.loftqConfig };
      if (m instanceof Embedding || m instanceof LoraEmbedding) {
        const layer = m instanceof LoraEmbedding ? m : new LoraEmbedding(m);
        if (layer !== m) model.setSubmodule(path, layer);
        layer.addAdapter(name, spec);
        continue;
      }
      const layer = m instanceof LoraLinear ? m : new LoraLinear(m as Linear | Conv1D | QuantizedLinear);
      // HF corrects fan_in_fan_out to the layer's layout (and says so); the layer reads its layout itself.
      if (layer.fanInFanOut && !config.fanInFanOut) {
        loraWarn('fan_in_fan_out is set to False but the target module is `Conv1D`. Setting fan_in_fan_out to True.');
        config.fanInFanOut = true;
      } else if (!layer.fanInFanOut && config.fanInFanOut) {
        loraWarn('fan_in_fan_out is set to True but the target module is `torch.nn.Linear`. Setting fan_in_fan_out to False.');
        config.fanInFanOut = false;
      }
      if (layer !== m) model.setSubmodule(path, layer);
      layer.addAdapter(name, spec);
    }
  },

  stateDict(peft: PeftModel, name: string): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    for (const [p, t] of peft.adapterParameters(name)) {
      const key = savedKey(p, name);
      out.set(key.endsWith(MAGNITUDE_SUFFIX) ? key.slice(0, -'.weight'.length) : key, t);
    }
    return out;
  },

  trainedBaseParameters(peft: PeftModel, config: LoraConfig): string[] {
    if (config.bias === 'none') return [];
    return peft.model.namedParameters().map(([p]) => p).filter((p) => {
      if (!p.endsWith('.bias') || p.includes('.lora_')) return false;
      return config.bias === 'all' || p.endsWith('.base_layer.bias');
    });
  },

  addWeightedAdapter,
};

registerTuner(loraTuner);
