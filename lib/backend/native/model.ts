/** The native backend's model kernels: each passes its params object to the addon, buffers as views. */
import type { ModelKernels } from '../model_types';
import type { NativeAddon, ParamsEntries } from './addon';
import { hostParams } from './views';

/** Methods for NativeBackend.prototype (`this` is the backend, which holds the addon). */
export const nativeModelKernels: ModelKernels & ThisType<{ readonly addon: NativeAddon }> = {
  unaryBackward(p) { this.addon.unaryBackward(hostParams(p)); },
  softmaxBackward(p) { this.addon.softmaxBackward(hostParams(p)); },
  columnSum(p) { this.addon.columnSum(hostParams(p)); },
  stridedScatter(p) { this.addon.stridedScatter(hostParams(p)); },
  rmsNormForward(p) { this.addon.rmsNormForward(hostParams(p)); },
  rmsNormBackward(p) { this.addon.rmsNormBackward(hostParams(p)); },
  layerNormForward(p) { this.addon.layerNormForward(hostParams(p)); },
  layerNormBackward(p) { this.addon.layerNormBackward(hostParams(p)); },
  embeddingForward(p) { this.addon.embeddingForward(hostParams(p)); },
  embeddingBackward(p) { this.addon.embeddingBackward(hostParams(p)); },
  rope(p) { this.addon.rope(hostParams(p)); },
  crossEntropyForward(p) { return this.addon.crossEntropyForward(hostParams(p)); },
  crossEntropyBackward(p) { this.addon.crossEntropyBackward(hostParams(p)); },
};

/** The addon entries of the model kernels (csrc/binding/model_binding.cc): each takes its params object. */
export type NativeModelEntries = ParamsEntries<keyof ModelKernels>;
