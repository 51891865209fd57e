export { IA3Config } from './config';
export type { IA3ConfigFields } from './config';
export { IA3_DEFAULT_TARGETS } from './defaults';
export { Ia3Linear } from './layer';
export { ParameterDict } from '../adapter_layer';
export { isFeedforwardKey } from './tuner';
import './tuner';
