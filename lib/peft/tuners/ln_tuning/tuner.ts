/**
 * The LN tuning tuner (HF's LNTuningModel, src/peft/tuners/ln_tuning/model.py): wraps every targeted module
 * (by default the architecture's norms, see LN_TUNING_DEFAULT_TARGETS) in an LNTuningLayer and adds a
 * trainable copy for the adapter. Saved as HF does: `base_model.model.<module>.ln_tuning_layers.weight`.
 */
import type { Module } from '../../../nn/module';
import type { PeftModel } from '../../peft_model';
import { fillDefaultTargets, LN_TUNING_DEFAULT_TARGETS } from '../../target_module_mapping';
import { findTargets } from '../../targets';
import { isAdapterLayer, registerTuner, type Tuner } from '../../tuner';
import { LNTuningConfig } from './config';
import { isCopyable, LNTuningLayer } from './layer';

const lnTuner: Tuner<LNTuningConfig> = {
  peftType: 'LN_TUNING',
  adapterPrefixes: ['ln_tuning_layers'],

  inject(peft: PeftModel, config: LNTuningConfig, name: string): void {
    const model = peft.model;
    fillDefaultTargets(model, config, 'LN tuning', LN_TUNING_DEFAULT_TARGETS);
    // The modules inside adapter layers (their base layers and copies) are never targets themselves.
    const inside = new Set<Module>();
    for (const [, m] of model.namedModules()) {
      if (m instanceof LNTuningLayer || isAdapterLayer(m)) for (const [p, c] of m.namedModules()) if (p !== '') inside.add(c);
    }
    const accept = (m: Module) => !inside.has(m) && (m instanceof LNTuningLayer || (!isAdapterLayer(m) && isCopyable(m)));
    for (const [path, m] of findTargets(model, config, accept, 'LN tuning')) {
      const layer = m instanceof LNTuningLayer ? m : new LNTuningLayer(m);
      if (layer !== m) model.setSubmodule(path, layer);
      layer.addAdapter(name);
    }
  },
};

registerTuner(lnTuner);
