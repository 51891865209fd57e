/** The bottleneck-adapter tuner: wraps each block's attention / FFN output projection and adds the adapter. */
import type { Module } from '../../../nn/module';
import type { PeftModel } from '../../peft_model';
import { registerTuner, type Tuner } from '../../tuner';
import { AdapterConfig } from './config';
import { bottleneckProjections, ResidualAdapterLayer } from './layer';
import { adapterSites, outFeaturesOf } from './placement';

/** floor(hidden / reductionFactor), at least 1 (an error where that rounds to 0). */
export function bottleneckSize(hidden: number, reductionFactor: number, what: string): number {
  const b = Math.floor(hidden / reductionFactor);
  if (b < 1) throw new RangeError(`${what}: reductionFactor ${reductionFactor} leaves no bottleneck for hidden size ${hidden}`);
  return b;
}

/**
 * The method's layer at each site (wrapping the projection the first time). `check` sees every site's
 * hidden size before anything is wrapped, so a config that does not fit leaves the model untouched.
 */
export function wrapSites(peft: PeftModel, config: { adapterType: AdapterConfig['adapterType']; layersToTransform: AdapterConfig['layersToTransform'] },
                          method: string, what: string, check: (hidden: number) => void): ResidualAdapterLayer[] {
  const model = peft.model;
  const isOurs = (m: Module) => m instanceof ResidualAdapterLayer && m.method === method;
  const sites = adapterSites(model, config.adapterType, config.layersToTransform, isOurs, what);
  for (const { module } of sites) check(outFeaturesOf(isOurs(module) ? (module as ResidualAdapterLayer).base_layer : module));
  return sites.map(({ path, module }) => {
    if (isOurs(module)) return module as ResidualAdapterLayer;
    const layer = new ResidualAdapterLayer(module, method);
    model.setSubmodule(path, layer);
    return layer;
  });
}

const bottleneckTuner: Tuner<AdapterConfig> = {
  peftType: 'BOTTLENECK_ADAPTER',
  adapterPrefixes: ['adapter_down', 'adapter_up'],

  inject(peft: PeftModel, config: AdapterConfig, name: string): void {
    const check = (hidden: number) => void bottleneckSize(hidden, config.reductionFactor, 'AdapterConfig');
    for (const layer of wrapSites(peft, config, 'BOTTLENECK_ADAPTER', 'AdapterConfig', check)) {
      const hidden = layer.hiddenSize;
      const { down, up } = bottleneckProjections(hidden, bottleneckSize(hidden, config.reductionFactor, 'AdapterConfig'), config.initStd);
      layer.addProjections(name, down, up, config.nonLinearity);
    }
  },
};

registerTuner(bottleneckTuner);
