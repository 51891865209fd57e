export { LoraConfig } from './config';
export type { LoraBias, LoraConfigFields } from './config';
export { LoraLinear, AdapterDict } from './layer';
import './tuner';
