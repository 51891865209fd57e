export { BitFitConfig } from './config';
export type { BitFitConfigFields } from './config';
import './tuner';
