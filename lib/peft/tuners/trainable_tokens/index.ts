export { TrainableTokensConfig } from './config';
export type { TrainableTokensConfigFields } from './config';
export { TiedTrainableTokensLayer, TrainableTokensLayer } from './layer';
export { inputEmbeddingsPath } from './tuner';
import './tuner';
