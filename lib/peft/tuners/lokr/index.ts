export { LoKrConfig } from './config';
export type { LoKrConfigFields, LoKrInit } from './config';
export { LoKrLinear } from './layer';
export { factorization, lokrShapes } from './factorization';
export type { LoKrShapes } from './factorization';
import './tuner';
