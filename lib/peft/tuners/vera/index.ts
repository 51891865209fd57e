export { VeraConfig } from './config';
export type { VeraBias, VeraConfigFields } from './config';
export { VeraLinear, VeraProjections } from './layer';
export { veraProjectionsOf } from './tuner';
export { Mt19937, torchUniform, veraProjections } from './prng';
import './tuner';
