export { BOFTConfig } from './config';
export type { BOFTBias, BOFTConfigFields } from './config';
export { BOFTLinear } from './layer';
export type { BOFTSpec } from './layer';
export { blockButterflyPerm } from './butterfly';
import './tuner';
