export { LNTuningConfig } from './config';
export type { LNTuningConfigFields } from './config';
export { LNTuningLayer } from './layer';
import './tuner';
