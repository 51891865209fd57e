export { PromptEncoderConfig } from './config';
export type { PromptEncoderConfigFields, PromptEncoderReparameterizationType } from './config';
export { PromptEncoder, promptEncoder } from './encoder';
import './tuner';
