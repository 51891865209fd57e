export { FourierFTConfig, nFrequencyFor } from './config';
export type { FourierFTBias, FourierFTConfigFields } from './config';
export { FourierFTLinear } from './layer';
export type { FourierFTSpec } from './layer';
export { FOURIERFT_DEFAULT_TARGETS } from './tuner';
export { torchRandpermPrefix } from './randperm';
import './tuner';
