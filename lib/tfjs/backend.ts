/**
 * The 'peftjs' TensorFlow.js backend: tfjs-backend-cpu's MathBackendCPU itself (its DataStorage of typed
 * arrays, read/readSync, memory accounting, dispose), so every kernel tfjs's cpu backend has runs here
 * unchanged on the same data, and the overridden kernels (lib/tfjs/kernels) read and write those arrays in place.
 */
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';

export class PeftjsBackend extends MathBackendCPU {}
