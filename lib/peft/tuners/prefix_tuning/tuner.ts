/** The prefix-tuning tuner: per-layer key/value prefixes handed to the model's attention. */
import { registerTuner } from '../../tuner';
import { promptLearningTuner } from '../prompt_learning/tuner_base';
import { PrefixTuningConfig } from './config';
import { prefixEncoder } from './encoder';

registerTuner(promptLearningTuner<PrefixTuningConfig>({
  peftType: 'PREFIX_TUNING',
  prefix: true,
  build: (_peft, config) => prefixEncoder(config),
  savedShape: (config) => {
    const d = config.dims();
    return [d.numVirtualTokens, d.numLayers * 2 * d.tokenDim];
  },
}));
