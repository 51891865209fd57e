export { DiffPruningConfig } from './config';
export type { DiffPruningConfigFields } from './config';
export { DiffPrunedLinear } from './layer';
export type { DiffPruningSpec } from './layer';
export { diffPruningParamGroups, diffPruningPenalty, finalizeDiffPruning, SPARSE_SUFFIXES } from './tuner';
import './tuner';
