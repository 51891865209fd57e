/** The native backend's fused attention: argument marshalling for csrc/binding/attention_binding.cc. */
import type { AttentionKernels, AttentionParams, Buf, HeadsView } from '../types';
import type { NativeAddon } from './addon';
import { view } from './views';

/** The 15 leading arguments both entry points share. */
type SharedArgs = [
  batch: number, tq: number, tk: number, qHeads: number, kvHeads: number, headDim: number, scale: number, causal: boolean,
  keyMask: Int32Array | null, q: Float32Array, qStride: number, k: Float32Array, kStride: number, v: Float32Array, vStride: number,
];

function shared(p: AttentionParams): SharedArgs {
  return [p.batch, p.tq, p.tk, p.qHeads, p.kvHeads, p.headDim, p.scale, p.causal, p.keyMask,
    view(p.q.buf), p.q.rowStride, view(p.k.buf), p.k.rowStride, view(p.v.buf), p.v.rowStride];
}

function heads(h: HeadsView): [Float32Array, number] {
  return [view(h.buf), h.rowStride];
}

export const nativeAttentionKernels: AttentionKernels & ThisType<{ addon: NativeAddon }> = {
  attentionForward(p) {
    this.addon.attentionForward(...shared(p), view(p.out), view(p.lse));
  },

  attentionBackward(p) {
    this.addon.attentionBackward(...shared(p), view(p.out), view(p.lse), view(p.dout), ...heads(p.dq), ...heads(p.dk), ...heads(p.dv));
  },
};

/** The addon entries of fused attention (csrc/binding/attention_binding.cc), positional. */
export interface NativeAttentionEntries {
  attentionForward(batch: number, tq: number, tk: number, qHeads: number, kvHeads: number, headDim: number, scale: number,
                   causal: boolean, keyMask: Int32Array | null, q: Float32Array, qStride: number, k: Float32Array, kStride: number,
                   v: Float32Array, vStride: number, out: Float32Array, lse: Float32Array): void;
  attentionBackward(batch: number, tq: number, tk: number, qHeads: number, kvHeads: number, headDim: number, scale: number,
                    causal: boolean, keyMask: Int32Array | null, q: Float32Array, qStride: number, k: Float32Array, kStride: number,
                    v: Float32Array, vStride: number, out: Float32Array, lse: Float32Array, dout: Float32Array,
                    dq: Float32Array, dqStride: number, dk: Float32Array, dkStride: number, dv: Float32Array, dvStride: number): void;
}
