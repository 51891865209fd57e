/**
 * The reference rotary position embedding, in place: plain loops over any float array, and the js backend's
 * kernels over them.
 */
import { type Arr, at, opt } from '../reference_helpers';
import type { RopeKernels } from './kernel';

export interface RopeArrays {
  rows: number; heads: number; headDim: number; rotaryDim: number; rowStride: number;
  x: Arr; positions: Int32Array; theta: number; interleaved: boolean; inverse: boolean;
  /** The rotaryDim/2 inverse frequencies (RoPE scaling); null or absent: ropeInvFreq(rotaryDim, theta). */
  invFreq?: Float32Array | null;
  /** Multiplies cos and sin (HF's attention_scaling); absent: 1. */
  attentionFactor?: number;
}

/**
 * inv_freq[i] = 1 / theta^(2i / rotaryDim) as HF computes it in float32: the exponent, the power and the
 * reciprocal are each rounded to float32 (Math.fround), so the angles match PyTorch's to the last bit or so.
 */
export function ropeInvFreq(rotaryDim: number, theta: number): Float64Array {
  const half = rotaryDim / 2, f = Math.fround;
  const inv = new Float64Array(half);
  for (let i = 0; i < half; i++) inv[i] = f(1 / f(Math.pow(f(theta), f(f(2 * i) / f(rotaryDim)))));
  return inv;
}

/**
 * Rotates each pair (a, b) of x by angle = positions[row] * inv_freq[i] (float32 product, as HF):
 * a' = a cos - b sin, b' = b cos + a sin; by -angle when inverse. Pairs are (i, i + rotaryDim/2)
 * (HF rotate_half) or (2i, 2i + 1) when interleaved (llama2.c, Meta). cos and sin are multiplied by
 * attentionFactor (when not 1), in the forward and the inverse alike: the inverse is the transpose.
 */
export function rope(p: RopeArrays): void {
  const { rows, heads, headDim, rotaryDim, rowStride, x, positions, theta, interleaved, inverse } = p;
  const half = rotaryDim / 2;
  const inv = p.invFreq ?? ropeInvFreq(rotaryDim, theta);
  const af = p.attentionFactor ?? 1;
  for (let r = 0; r < rows; r++) {
    for (let i = 0; i < half; i++) {
      const angle = Math.fround(Math.fround(positions[r]) * inv[i]);
      let c = Math.cos(angle), s = inverse ? -Math.sin(angle) : Math.sin(angle);
      if (af !== 1) {
        c *= af;
        s *= af;
      }
      for (let h = 0; h < heads; h++) {
        const o = r * rowStride + h * headDim;
        const ia = interleaved ? o + 2 * i : o + i, ib = interleaved ? ia + 1 : ia + half;
        const a = x[ia], b = x[ib];
        x[ia] = a * c - b * s;
        x[ib] = b * c + a * s;
      }
    }
  }
}

/** The js backend's kernels: the math above on float32 storage. */
export const jsRopeKernels: RopeKernels = {
  rope(p) {
    // The native kernels take attentionFactor as a float32.
    rope({ ...p, x: at(p.x), attentionFactor: p.attentionFactor === undefined ? 1 : Math.fround(p.attentionFactor) });
  },
};
