/**
 * The Compacter tuner: the bottleneck adapters' placement and residual (ResidualAdapterLayer), with PHM
 * projections built on one shared rule per adapter (see shared.ts for where it lives).
 */
import type { PeftModel } from '../../peft_model';
import { registerTuner, type Tuner } from '../../tuner';
import { bottleneckSize, wrapSites } from '../bottleneck/tuner';
import { CompacterConfig } from './config';
import { PHMLinear } from './phm_linear';
import { deleteSharedRule, PhmRule, SHARED_MODULE, sharedRules } from './shared';

const compacterTuner: Tuner<CompacterConfig> = {
  peftType: 'COMPACTER',
  adapterPrefixes: ['adapter_down', 'adapter_up', SHARED_MODULE],

  inject(peft: PeftModel, config: CompacterConfig, name: string): void {
    const model = peft.model;
    const n = config.phmDim;
    const check = (hidden: number) => {
      const bottleneck = bottleneckSize(hidden, config.reductionFactor, 'CompacterConfig');
      if (hidden % n !== 0 || bottleneck % n !== 0)
        throw new RangeError(`CompacterConfig: phmDim ${n} must divide the hidden size (${hidden}) and the bottleneck (${bottleneck} = floor(${hidden} / reductionFactor ${config.reductionFactor}))`);
    };
    const layers = wrapSites(peft, config, 'COMPACTER', 'CompacterConfig', check);
    const rule = new PhmRule(n, config.phmCInit, config.phmInitRange);
    sharedRules(model, true)!.registerModule(name, rule);
    const init = { factors: config.hypercomplexNonlinearity, initRange: config.phmInitRange };
    for (const layer of layers) {
      const hidden = layer.hiddenSize;
      const bottleneck = bottleneckSize(hidden, config.reductionFactor, 'CompacterConfig');
      const down = new PHMLinear(hidden, bottleneck, rule.phm_rule, config.phmRank, init);
      const up = new PHMLinear(bottleneck, hidden, rule.phm_rule, config.phmRank, { ...init, zeroRight: true });
      layer.addProjections(name, down, up, config.nonLinearity);
    }
  },

  deleteAdapter(peft: PeftModel, name: string): void {
    deleteSharedRule(peft.model, name);
  },

  unload(peft: PeftModel): void {
    for (const name of peft.peftConfig.keys()) deleteSharedRule(peft.model, name);
  },
};

registerTuner(compacterTuner);
