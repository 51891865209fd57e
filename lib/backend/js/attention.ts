/** The js backend's fused attention: the reference loops of attention_reference.ts on float32 storage. */
import type { AttentionKernels, AttentionParams, Buf } from '../types';
import * as ref from './attention_reference';

/** The storage's host memory from the buffer's offset on (a view, no copy). */
function at(b: Buf): Float32Array {
  if (b.storage.data === undefined) throw new Error(`js backend: storage on '${b.storage.device}' is not host memory`);
  return b.storage.data.subarray(b.offset);
}

function inputs(p: AttentionParams): ref.AttentionInputs {
  return {
    batch: p.batch, tq: p.tq, tk: p.tk, qHeads: p.qHeads, kvHeads: p.kvHeads, headDim: p.headDim, scale: p.scale,
    causal: p.causal, keyMask: p.keyMask,
    q: at(p.q.buf), qStride: p.q.rowStride, k: at(p.k.buf), kStride: p.k.rowStride, v: at(p.v.buf), vStride: p.v.rowStride,
  };
}

export const jsAttentionKernels: AttentionKernels = {
  attentionForward(p) {
    ref.attentionForward(inputs(p), at(p.out), at(p.lse));
  },

  attentionBackward(p) {
    ref.attentionBackward(inputs(p), at(p.out), at(p.lse), at(p.dout), {
      dq: at(p.dq.buf), dqStride: p.dq.rowStride, dk: at(p.dk.buf), dkStride: p.dk.rowStride,
      dv: at(p.dv.buf), dvStride: p.dv.rowStride,
    });
  },
};
