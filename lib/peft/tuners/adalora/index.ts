export { AdaLoraConfig } from './config';
export type { AdaLoraConfigFields, AdaLoraRankPattern } from './config';
export { SVDLinear } from './layer';
export type { AdaLoraSpec } from './layer';
export { RankAllocator } from './rank_allocator';
export { orthogonalRegularizer } from './orth_reg';
export { ADALORA_DEFAULT_TARGETS, rankAllocatorOf, resizeModulesByRankPattern, withFullRankAdaLora } from './tuner';
import './tuner';
