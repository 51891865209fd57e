export { LayerFreezingConfig } from './config';
export type { LayerFreezingConfigFields } from './config';
export { BLOCK_LISTS, findBlockList } from './tuner';
import './tuner';
