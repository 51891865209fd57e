/** The native backend's PEFT kernels: each passes its params object to the addon, buffers as views. */
import type { PeftKernels } from '../types';
import type { NativeAddon, ParamsEntries } from './addon';
import { hostParams } from './views';

/** Bound to the backend, which holds the addon. */
export const nativePeftKernels: PeftKernels & ThisType<{ addon: NativeAddon }> = {
  loraForward(p) { this.addon.loraForward(hostParams(p)); },
  loraBackward(p) { this.addon.loraBackward(hostParams(p)); },
  ia3Forward(p) { this.addon.ia3Forward(hostParams(p)); },
  ia3Backward(p) { this.addon.ia3Backward(hostParams(p)); },
  diffPruneForward(p) { return this.addon.diffPruneForward(hostParams(p)); },
  diffPruneBackward(p) { return this.addon.diffPruneBackward(hostParams(p)); },
  projectTopK(p) { return this.addon.projectTopK(hostParams(p)); },
  bitfitBackward(p) { this.addon.bitfitBackward(hostParams(p)); },
};

/** The addon entries of the PEFT kernels: each takes its params object. */
export type NativePeftEntries = ParamsEntries<keyof PeftKernels>;
