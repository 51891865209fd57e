/** The prompt-tuning tuner: virtual token embeddings put before the inputs'. */
import { registerTuner } from '../../tuner';
import { wordEmbeddings } from '../prompt_learning/model_config';
import { promptLearningTuner } from '../prompt_learning/tuner_base';
import { PromptTuningConfig } from './config';
import { promptEmbedding } from './embedding';

registerTuner(promptLearningTuner<PromptTuningConfig>({
  peftType: 'PROMPT_TUNING',
  prefix: false,
  build: (peft, config) => promptEmbedding(config, wordEmbeddings(peft.model, 'PromptTuningConfig')),
  savedShape: (config) => {
    const d = config.dims();
    return [d.numVirtualTokens * d.numTransformerSubmodules, d.tokenDim];
  },
}));
