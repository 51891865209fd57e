export { CompacterConfig } from './config';
export type { CompacterConfigFields, HypercomplexInit, PhmRuleInit } from './config';
export { PHMLinear } from './phm_linear';
export type { PhmInit } from './phm_linear';
export { PhmRule, SHARED_MODULE } from './shared';
import './tuner';
