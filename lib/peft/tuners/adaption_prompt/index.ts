export { ADAPTION_PROMPT_MODEL_TYPES, AdaptionPromptConfig } from './config';
export type { AdaptionPromptConfigFields } from './config';
export { AdaptedAttention } from './layer';
export type { AdaptedKind } from './layer';
import './tuner';
