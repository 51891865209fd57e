/**
 * `import 'peftjs/tfjs'` registers the TensorFlow.js backend 'peftjs' (then `await tf.setBackend('peftjs')`):
 * tfjs-backend-cpu's backend and every one of its kernels, with the heavy ones replaced by peftjs's native
 * kernels (matmul, convolution and depthwise convolution, pooling, elementwise ops with broadcasting,
 * activations, batch norm, reductions, softmax, transpose, tile, gather, slice, concat, pad), whose outputs
 * are recycled through a pool of arrays (lib/tfjs/memory.ts) unless their values reached the user.
 * float32 runs natively; every other dtype, and any attribute a native kernel does not cover, runs tfjs's
 * cpu kernel. Needs @tensorflow/tfjs-core and @tensorflow/tfjs-backend-cpu (peer
 * dependencies); importing 'peftjs' itself never loads tfjs.
 */
import { getKernelsForBackend, type KernelConfig, registerBackend, registerKernel } from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { PeftjsBackend } from './backend';
import { convKernels } from './kernels/conv';
import { dataKernels } from './kernels/data';
import { elementwiseKernels } from './kernels/elementwise';
import { matMulKernels } from './kernels/matmul';
import { reduceKernels } from './kernels/reduce';
import { tfjsAddon } from './native';
import { BACKEND_NAME, cpuAsPeftjs } from './util';

export { PeftjsBackend } from './backend';
export { BACKEND_NAME } from './util';
export { emptyPool, poolStats } from './memory';

/** The kernels 'peftjs' runs natively (for float32 inputs); every other kernel is tfjs's cpu kernel. */
export const NATIVE_KERNELS: readonly string[] = [];

let registered = false;

/**
 * Registers the backend and its kernels (done on import; calling it again does nothing). The backend's
 * priority is below tfjs's own, so importing this never changes the backend a program already uses.
 */
export function registerPeftjsBackend(): void {
  if (registered) return;
  registered = true;
  tfjsAddon();  // fail here, with the reason, if the addon is missing
  const overrides: KernelConfig[] = [...matMulKernels(), ...elementwiseKernels(), ...reduceKernels(), ...convKernels(), ...dataKernels()];
  const native = new Set(overrides.map((k) => k.kernelName));
  for (const k of getKernelsForBackend('cpu')) {
    if (!native.has(k.kernelName)) registerKernel(cpuAsPeftjs(k));
  }
  for (const k of overrides) registerKernel(k);
  (NATIVE_KERNELS as string[]).push(...[...native].sort());
  registerBackend(BACKEND_NAME, () => new PeftjsBackend(), 0);
}

registerPeftjsBackend();
