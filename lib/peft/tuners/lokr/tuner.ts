/**
 * The LoKr tuner (HF's LoKrModel): wraps every targeted Linear in a LoKrLinear and adds the adapter with
 * HF's factor shapes. A new adapter whose decompose_factor does not divide a targeted dimension is refused
 * (HF would silently search another split); an adapter read from a file takes HF's split, which is what
 * its tensors were made with.
 */
import type { Module } from '../../../nn/module';
import type { PeftModel } from '../../peft_model';
import { registerTuner, type Tuner } from '../../tuner';
import { injectLycoris } from '../loha/lycoris';
import { LoKrConfig } from './config';
import { lokrShapes } from './factorization';
import { LoKrLinear } from './layer';

const lokrTuner: Tuner<LoKrConfig> = {
  peftType: 'LOKR',
  adapterPrefixes: ['lokr_w1', 'lokr_w1_a', 'lokr_w1_b', 'lokr_w2', 'lokr_w2_a', 'lokr_w2_b'],
  inject(peft: PeftModel, config: LoKrConfig, name: string): void {
    const f = config.decomposeFactor;
    injectLycoris(peft, config, name, 'LoKr', (m: Module): m is LoKrLinear => m instanceof LoKrLinear, (base) => new LoKrLinear(base),
      (layer, path, spec) => {
        if (f > 0 && !config.lenientFactor) {
          for (const [what, dim] of [['in_features', layer.inFeatures], ['out_features', layer.outFeatures]] as const)
            if (dim % f !== 0) throw new RangeError(`LoKrConfig: decomposeFactor ${f} does not divide ${what} ${dim} of '${path}' (HF would silently choose another split); use a divisor or -1`);
        }
        layer.addAdapter(name, spec, lokrShapes(layer.outFeatures, layer.inFeatures, spec.r, config.decomposeBoth, f), config.initWeights);
      }, config.rankDropoutScale);
  },
};

registerTuner(lokrTuner);
