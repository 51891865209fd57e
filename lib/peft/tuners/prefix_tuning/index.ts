export { PrefixTuningConfig } from './config';
export type { PrefixTuningConfigFields } from './config';
export { PrefixProjection, prefixEncoder } from './encoder';
import './tuner';
