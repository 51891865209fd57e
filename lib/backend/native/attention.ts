/** The native backend's fused attention: each kernel passes its params object to the addon, buffers as views. */
import type { AttentionKernels } from '../types';
import type { NativeAddon, ParamsEntries } from './addon';
import { hostParams } from './views';

/** Bound to the backend, which holds the addon. */
export const nativeAttentionKernels: AttentionKernels & ThisType<{ addon: NativeAddon }> = {
  attentionForward(p) { this.addon.attentionForward(hostParams(p)); },
  attentionBackward(p) { this.addon.attentionBackward(hostParams(p)); },
};

/** The addon entries of fused attention (csrc/binding/attention_binding.cc): each takes its params object, q, k, v (dq, dk, dv) as views {buf, rowStride}. */
export type NativeAttentionEntries = ParamsEntries<keyof AttentionKernels>;
