/**
 * Rotary position embedding, in place: what every backend implements and the argument checks every backend
 * runs before them (rope_binding.cc keeps the same checks and messages for callers that reach the addon
 * directly).
 */
import { type KernelChecks, typeOf } from '../../backend/checks';
import type { Buf } from '../../backend/types';

export interface RopeKernels {
  /**
   * Rotary embedding on x viewed as [rows, heads, headDim] (rowStride between rows), in place; token row
   * i is at position positions[i]. Frequency of pair i: theta^(-2i / rotaryDim) for the first rotaryDim
   * dims (rotaryDim = headDim usually). interleaved: pairs (2i, 2i+1) as llama2.c and Meta's reference;
   * otherwise (i, i + rotaryDim/2) as HF's rotate_half. inverse rotates by -angle (the backward).
   *
   * invFreq (RoPE scaling: linear, dynamic, llama3, longrope, yarn): the rotaryDim/2 inverse frequencies,
   * float32 values computed by the caller as HF does (lib/ops/rope/scaling.ts), used instead of
   * theta^(-2i / rotaryDim); null or absent: computed from theta. attentionFactor (HF's attention_scaling,
   * default 1): cos and sin are multiplied by it (as a float32) before the rotation, so the forward is
   * attentionFactor * R(angle) x and the inverse its transpose, attentionFactor * R(-angle) g (the backward).
   * With invFreq null and attentionFactor 1 the results are bit-identical to the unscaled kernel's.
   */
  rope(p: {
    rows: number; heads: number; headDim: number; rotaryDim: number; rowStride: number; x: Buf;
    positions: Int32Array; theta: number; interleaved: boolean; inverse: boolean;
    invFreq?: Float32Array | null; attentionFactor?: number;
  }): void;
}

export const ropeChecks: KernelChecks<RopeKernels> = {
  rope(p, c) {
    const rows = c.dim('rows', p.rows), heads = c.dim('heads', p.heads), headDim = c.dim('headDim', p.headDim);
    const rotaryDim = c.dim('rotaryDim', p.rotaryDim), rowStride = c.dim('rowStride', p.rowStride);
    if (rotaryDim % 2 !== 0 || rotaryDim > headDim) c.fail(`rotaryDim must be even and at most headDim ${headDim}, got ${rotaryDim}`);
    const rowWidth = c.mul(heads, headDim);
    if (rows > 1 && rowStride < rowWidth) c.fail(`rowStride must be at least heads * headDim = ${rowWidth}, got ${rowStride}`);
    const theta = c.number('theta', p.theta);
    if (!(theta > 0) || !Number.isFinite(theta)) c.fail(`theta must be finite and > 0, got ${theta}`);
    c.boolean('interleaved', p.interleaved);
    c.boolean('inverse', p.inverse);
    c.buf('x', p.x, rows === 0 ? 0 : c.mul(rows - 1, rowStride) + rowWidth);
    c.int32s('positions', p.positions, rows);
    checkRopeScalingArgs(p, rotaryDim, c);
  },
};

/** invFreq and attentionFactor, as rope_binding.cc checks them (same messages). */
function checkRopeScalingArgs(p: { invFreq?: unknown; attentionFactor?: unknown }, rotaryDim: number, c: Parameters<KernelChecks<RopeKernels>['rope']>[1]): void {
  const inv = p.invFreq;
  if (inv !== null && inv !== undefined) {
    if (!(inv instanceof Float32Array)) c.failType(`argument 'invFreq' must be a Float32Array or null, got ${typeOf(inv)}`);
    const half = rotaryDim / 2;
    if (inv.length !== half) c.fail(`invFreq must hold rotaryDim / 2 = ${half} values, got ${inv.length}`);
    for (let i = 0; i < half; i++) if (!Number.isFinite(inv[i])) c.fail(`invFreq[${i}] must be finite, got ${inv[i]}`);
  }
  if (p.attentionFactor !== undefined) {
    const af = c.number('attentionFactor', p.attentionFactor);
    if (!(af > 0) || !Number.isFinite(af)) c.fail(`attentionFactor must be finite and > 0, got ${af}`);
  }
}
