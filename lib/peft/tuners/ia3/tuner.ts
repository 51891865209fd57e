/**
 * The (IA)3 tuner: wraps every targeted Linear/Conv1D in an Ia3Linear and adds the adapter to it. With no
 * targetModules, HF's per-architecture defaults are used and written into the config (as HF does), so the
 * saved adapter_config.json lists them.
 */
import { QuantizedLinear } from '../../../quant/quantized_linear';
import { Conv1D } from '../../../nn/layers/conv1d';
import { Linear } from '../../../nn/layers/linear';
import type { Module } from '../../../nn/module';
import type { PeftModel } from '../../peft_model';
import { findTargets } from '../../targets';
import { registerTuner, type Tuner } from '../../tuner';
import { IA3Config } from './config';
import { IA3_DEFAULT_TARGETS, modelTypeOf } from './defaults';
import { Ia3Linear } from './layer';

/** HF's is_feedforward: a full regex match, or the key ending in one of the names. */
export function isFeedforwardKey(feedforward: string[] | string | null, key: string): boolean {
  if (feedforward === null) return false;
  if (typeof feedforward === 'string') return new RegExp(`^(?:${feedforward})$`).test(key);
  return feedforward.some((t) => key.endsWith(t));
}

function fillDefaults(model: Module, config: IA3Config): void {
  if (config.targetModules !== null) return;
  const type = modelTypeOf(model);
  const defaults = type === null ? undefined : IA3_DEFAULT_TARGETS[type];
  if (!defaults) throw new Error(`IA3: no default target modules for model type '${type}' (known: ${Object.keys(IA3_DEFAULT_TARGETS).join(', ')}); set targetModules`);
  config.targetModules = [...defaults.targetModules];
  if (config.feedforwardModules === null) config.feedforwardModules = [...defaults.feedforwardModules];
}

const ia3Tuner: Tuner<IA3Config> = {
  peftType: 'IA3',
  adapterPrefixes: ['ia3_l'],

  inject(peft: PeftModel, config: IA3Config, name: string): void {
    const model = peft.model;
    fillDefaults(model, config);
    config.validate();
    const accept = (m: Module) => m instanceof Linear || m instanceof Conv1D || m instanceof QuantizedLinear || m instanceof Ia3Linear;
    for (const [path, m] of findTargets(model, config, accept, 'IA3')) {
      const feedforward = isFeedforwardKey(config.feedforwardModules, path);
      let layer: Ia3Linear;
      if (m instanceof Ia3Linear) {
        if (m.isFeedforward !== feedforward)
          throw new Error(`IA3: '${path}' already scales its ${m.isFeedforward ? 'input' : 'output'}; adapter '${name}' would scale its ${feedforward ? 'input' : 'output'}`);
        layer = m;
      } else {
        layer = new Ia3Linear(m as Linear | Conv1D | QuantizedLinear, feedforward);
        model.setSubmodule(path, layer);
      }
      layer.addAdapter(name, config.initIa3Weights);
    }
  },
};

registerTuner(ia3Tuner);
