/** The P-tuning tuner: virtual tokens from a prompt encoder (MLP or LSTM) put before the inputs. */
import { registerTuner } from '../../tuner';
import { promptLearningTuner } from '../prompt_learning/tuner_base';
import { PromptEncoderConfig } from './config';
import { promptEncoder } from './encoder';

registerTuner(promptLearningTuner<PromptEncoderConfig>({
  peftType: 'P_TUNING',
  prefix: false,
  build: (_peft, config) => promptEncoder(config),
  savedShape: (config) => {
    const d = config.dims();
    return [d.numVirtualTokens * d.numTransformerSubmodules, d.tokenDim];
  },
}));
