/**
 * Reference math of fused scaled-dot-product attention (kernel.ts, AttentionParams), as plain loops
 * over one query row at a time, on any float array so the same code runs in float32 (the js backend) and
 * float64 (the finite-difference gradient checks).
 *
 * Layouts: q [B, tq, qHeads, D], k and v [B, tk, kvHeads, D], token rows `*Stride` elements apart, head h
 * at column h * D of its row; out [B, tq, qHeads, D] packed; lse [B, qHeads, tq].
 */
import { type Arr, at } from '../reference_helpers';
import type { AttentionKernels, AttentionParams } from './kernel';

export interface AttentionShape {
  batch: number; tq: number; tk: number; qHeads: number; kvHeads: number; headDim: number;
  scale: number; causal: boolean; keyMask: Int32Array | null;
  /** Sliding window (0 = none; see AttentionParams.window). */
  window?: number;
  /** Logit soft-cap (0 = none; see AttentionParams.softcap). */
  softcap?: number;
}

export interface AttentionInputs extends AttentionShape {
  q: Arr; qStride: number;
  k: Arr; kStride: number;
  v: Arr; vStride: number;
}

/** Whether query i of sequence b sees key j (causal offset tk - tq serves KV caches and key prefixes). */
export function keyVisible(s: AttentionShape, b: number, i: number, j: number): boolean {
  if (s.causal && j > i + (s.tk - s.tq)) return false;
  // HF's sliding window: kv_idx > q_idx - sliding_window, the query at absolute position i + (tk - tq).
  if (s.window && j <= i + (s.tk - s.tq) - s.window) return false;
  return s.keyMask === null || s.keyMask[b * s.tk + j] !== 0;
}

/** The kv head that query head h reads (grouped-query attention). */
export function kvHeadOf(s: AttentionShape, h: number): number {
  return Math.floor(h / (s.qHeads / s.kvHeads));
}

/** scale * q_i . k_j of query head h (soft-capped: softcap * tanh(s / softcap)), for every key (-Infinity where hidden). */
function scoresRow(p: AttentionInputs, b: number, h: number, i: number): Float64Array {
  const D = p.headDim, g = kvHeadOf(p, h);
  const qi = (b * p.tq + i) * p.qStride + h * D;
  const s = new Float64Array(p.tk);
  for (let j = 0; j < p.tk; j++) {
    if (!keyVisible(p, b, i, j)) { s[j] = -Infinity; continue; }
    const kj = (b * p.tk + j) * p.kStride + g * D;
    let dot = 0;
    for (let d = 0; d < D; d++) dot += p.q[qi + d] * p.k[kj + d];
    s[j] = p.scale * dot;
    if (p.softcap) s[j] = p.softcap * Math.tanh(s[j] / p.softcap);
  }
  return s;
}

/** Writes out (packed) and lse; a query that sees no key gets out = 0 and lse = -Infinity. */
export function attentionForward(p: AttentionInputs, out: Arr, lse: Arr): void {
  const D = p.headDim, H = p.qHeads;
  for (let b = 0; b < p.batch; b++)
    for (let h = 0; h < H; h++) {
      const g = kvHeadOf(p, h);
      for (let i = 0; i < p.tq; i++) {
        const s = scoresRow(p, b, h, i);
        let m = -Infinity;
        for (let j = 0; j < p.tk; j++) m = Math.max(m, s[j]);
        const o = (b * p.tq + i) * H * D + h * D;
        const li = (b * H + h) * p.tq + i;
        for (let d = 0; d < D; d++) out[o + d] = 0;
        if (m === -Infinity) { lse[li] = -Infinity; continue; }
        let sum = 0;
        for (let j = 0; j < p.tk; j++) sum += Math.exp(s[j] - m);
        lse[li] = m + Math.log(sum);
        for (let j = 0; j < p.tk; j++) {
          if (s[j] === -Infinity) continue;
          const w = Math.exp(s[j] - m) / sum;
          const vj = (b * p.tk + j) * p.vStride + g * D;
          for (let d = 0; d < D; d++) out[o + d] += w * p.v[vj + d];
        }
      }
    }
}

export interface AttentionGradOutputs {
  dq: Arr; dqStride: number;
  dk: Arr; dkStride: number;
  dv: Arr; dvStride: number;
}

/**
 * Flash-attention's backward from the saved out and lse: P = exp(s - lse), D_i = dout_i . out_i,
 * dS = P (dP - D_i) with dP = dout v^T (times 1 - tanh^2 under a soft-cap); dq = scale dS k, dk = scale
 * dS^T q, dv = P^T dout (summed over the query heads of a kv group). Writes only the columns of the heads each gradient owns.
 */
export function attentionBackward(p: AttentionInputs, out: Arr, lse: Arr, dout: Arr, g: AttentionGradOutputs): void {
  const D = p.headDim, H = p.qHeads;
  for (let b = 0; b < p.batch; b++) {
    for (let i = 0; i < p.tq; i++)
      for (let h = 0; h < H; h++) for (let d = 0; d < D; d++) g.dq[(b * p.tq + i) * g.dqStride + h * D + d] = 0;
    for (let j = 0; j < p.tk; j++)
      for (let h = 0; h < p.kvHeads; h++)
        for (let d = 0; d < D; d++) {
          g.dk[(b * p.tk + j) * g.dkStride + h * D + d] = 0;
          g.dv[(b * p.tk + j) * g.dvStride + h * D + d] = 0;
        }
  }
  for (let b = 0; b < p.batch; b++)
    for (let h = 0; h < H; h++) {
      const kh = kvHeadOf(p, h);
      for (let i = 0; i < p.tq; i++) {
        const L = lse[(b * H + h) * p.tq + i];
        if (L === -Infinity) continue; // a query that sees nothing passes no gradient
        const s = scoresRow(p, b, h, i);
        const o = (b * p.tq + i) * H * D + h * D;
        const qi = (b * p.tq + i) * p.qStride + h * D;
        const dqi = (b * p.tq + i) * g.dqStride + h * D;
        let Di = 0;
        for (let d = 0; d < D; d++) Di += dout[o + d] * out[o + d];
        for (let j = 0; j < p.tk; j++) {
          if (s[j] === -Infinity) continue;
          const P = Math.exp(s[j] - L);
          const vj = (b * p.tk + j) * p.vStride + kh * D, kj = (b * p.tk + j) * p.kStride + kh * D;
          let dP = 0;
          for (let d = 0; d < D; d++) dP += dout[o + d] * p.v[vj + d];
          let dS = P * (dP - Di);
          // Under a soft-cap, d(c tanh(x / c))/dx = 1 - tanh^2, tanh being the capped score / c.
          if (p.softcap) dS *= 1 - (s[j] / p.softcap) ** 2;
          const dkj = (b * p.tk + j) * g.dkStride + kh * D, dvj = (b * p.tk + j) * g.dvStride + kh * D;
          for (let d = 0; d < D; d++) {
            g.dq[dqi + d] += p.scale * dS * p.k[kj + d];
            g.dk[dkj + d] += p.scale * dS * p.q[qi + d];
            g.dv[dvj + d] += P * dout[o + d];
          }
        }
      }
    }
}

function inputs(p: AttentionParams): AttentionInputs {
  return {
    batch: p.batch, tq: p.tq, tk: p.tk, qHeads: p.qHeads, kvHeads: p.kvHeads, headDim: p.headDim, scale: p.scale,
    causal: p.causal, keyMask: p.keyMask, window: p.window ?? 0, softcap: p.softcap ?? 0,
    q: at(p.q.buf), qStride: p.q.rowStride, k: at(p.k.buf), kStride: p.k.rowStride, v: at(p.v.buf), vStride: p.v.rowStride,
  };
}

/** The js backend's kernels: the loops above on float32 storage. */
export const jsAttentionKernels: AttentionKernels = {
  attentionForward(p) {
    attentionForward(inputs(p), at(p.out), at(p.lse));
  },

  attentionBackward(p) {
    attentionBackward(inputs(p), at(p.out), at(p.lse), at(p.dout), {
      dq: at(p.dq.buf), dqStride: p.dq.rowStride, dk: at(p.dk.buf), dkStride: p.dk.rowStride,
      dv: at(p.dv.buf), dvStride: p.dv.rowStride,
    });
  },
};
