/**
 * Rotary position embedding, in place: what every backend implements and the argument checks every backend
 * runs before them (rope_binding.cc keeps the same checks and messages for callers that reach the addon
 * directly).
 */
import type { KernelChecks } from '../../backend/checks';
import type { Buf } from '../../backend/types';

export interface RopeKernels {
  /**
   * Rotary embedding on x viewed as [rows, heads, headDim] (rowStride between rows), in place; token row
   * i is at position positions[i]. Frequency of pair i: theta^(-2i / rotaryDim) for the first rotaryDim
   * dims (rotaryDim = headDim usually). interleaved: pairs (2i, 2i+1) as llama2.c and Meta's reference;
   * otherwise (i, i + rotaryDim/2) as HF's rotate_half. inverse rotates by -angle (the backward).
   */
  rope(p: {
    rows: number; heads: number; headDim: number; rotaryDim: number; rowStride: number; x: Buf;
    positions: Int32Array; theta: number; interleaved: boolean; inverse: boolean;
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
  },
};
