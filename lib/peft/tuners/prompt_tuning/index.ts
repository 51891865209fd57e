export { PromptTuningConfig } from './config';
export type { PromptTuningConfigFields, PromptTuningInit } from './config';
export { promptEmbedding, textInitIds } from './embedding';
import './tuner';
