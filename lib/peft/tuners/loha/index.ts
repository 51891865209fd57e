export { LoHaConfig } from './config';
export type { LoHaConfigFields } from './config';
export { LoHaLinear } from './layer';
export { LycorisConfig, LycorisLinear } from './lycoris';
export type { LycorisSpec } from './lycoris';
import './tuner';
