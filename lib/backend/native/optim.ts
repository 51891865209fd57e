/** The native backend's optimizer updates: thin calls into the addon (csrc/kernels/optim.cc). */
import type { Buf, OptimKernels } from '../types';
import type { NativeAddon } from './addon';
import { view } from './views';

/** The CPU memory of a buffer from its offset on (the addon checks lengths). */

export const nativeOptimKernels: OptimKernels & ThisType<{ addon: NativeAddon }> = {
  adamwStep(p) {
    this.addon.adamwStep(p.n, view(p.param), view(p.grad), view(p.m), view(p.v), p.lr, p.beta1, p.beta2, p.eps, p.weightDecay, p.step);
  },

  sgdStep(p) {
    this.addon.sgdStep(p.n, view(p.param), view(p.grad), p.momentumBuf === null ? null : view(p.momentumBuf), p.lr, p.momentum,
      p.dampening, p.nesterov, p.weightDecay, p.firstStep);
  },

  sumSquares(x, n) {
    return this.addon.sumSquares(view(x), n);
  },
};

/** The addon entries of the optimizer kernels (csrc/binding/optim_binding.cc), positional. */
export interface NativeOptimEntries {
  adamwStep(n: number, param: Float32Array, grad: Float32Array, m: Float32Array, v: Float32Array, lr: number, beta1: number,
            beta2: number, eps: number, weightDecay: number, step: number): void;
  sgdStep(n: number, param: Float32Array, grad: Float32Array, momentumBuf: Float32Array | null, lr: number, momentum: number,
          dampening: number, nesterov: boolean, weightDecay: number, firstStep: boolean): void;
  sumSquares(x: Float32Array, n: number): number;
}
