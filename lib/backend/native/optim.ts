/** The native backend's optimizer updates: each kernel passes its params object to the addon (csrc/kernels/optim/optim.cc), buffers as views. */
import type { OptimKernels } from '../types';
import type { NativeAddon, ParamsEntries } from './addon';
import { hostParams } from './views';

/** Bound to the backend, which holds the addon. */
export const nativeOptimKernels: OptimKernels & ThisType<{ addon: NativeAddon }> = {
  adamwStep(p) { this.addon.adamwStep(hostParams(p)); },
  sgdStep(p) { this.addon.sgdStep(hostParams(p)); },
  sumSquares(p) { return this.addon.sumSquares(hostParams(p)); },
};

/** The addon entries of the optimizer kernels (csrc/binding/optim_binding.cc): each takes its params object. */
export type NativeOptimEntries = ParamsEntries<keyof OptimKernels>;
