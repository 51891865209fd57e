export { OFTConfig } from './config';
export type { OFTBias, OFTConfigFields } from './config';
export { OFTLinear, OFTRotation } from './layer';
export type { OFTSpec } from './layer';
import './tuner';
