/**
 * Rotary position embeddings on [..., heads * headDim] rows (q or k), out of place; the backward rotates back
 * (the transpose: by -angle, times the same attentionFactor).
 */
import { record } from '../../tensor/autograd';
import { kernel } from '../../tensor/kernel_lookup';
import { formatShape } from '../../tensor/shape';
import { backendFor, type Tensor } from '../../tensor/tensor';

export interface RopeOptions {
  heads: number;
  /** Position of each row (length = number of rows: x.size / (heads * headDim)). */
  positions: Int32Array;
  theta?: number;
  /** Pairs (2i, 2i+1) as llama2.c; false (default) pairs (i, i + d/2) as HF's rotate_half. */
  interleaved?: boolean;
  /** Rotate only the first rotaryDim dims of each head (default: all). */
  rotaryDim?: number;
  /**
   * RoPE scaling: the rotaryDim/2 inverse frequencies to use instead of theta^(-2i / rotaryDim)
   * (lib/ops/rope/scaling.ts computes them from a config's rope_scaling as HF does). null: from theta.
   */
  invFreq?: Float32Array | null;
  /** Multiplies cos and sin (HF's attention_scaling: longrope, yarn); default 1. */
  attentionFactor?: number;
}

export function rope(x: Tensor, opts: RopeOptions): Tensor {
  const op = 'rope';
  const be = backendFor(x, op);
  const width = x.shape[x.rank - 1];
  if (x.rank < 1 || !Number.isInteger(opts.heads) || opts.heads < 1 || width % opts.heads !== 0)
    throw new RangeError(`${op}: the last dimension of x ${formatShape(x.shape)} must split into ${opts.heads} heads`);
  const headDim = width / opts.heads;
  const rotaryDim = opts.rotaryDim ?? headDim;
  if (!Number.isInteger(rotaryDim) || rotaryDim < 0 || rotaryDim > headDim || rotaryDim % 2 !== 0)
    throw new RangeError(`${op}: rotaryDim must be an even number <= headDim ${headDim}, got ${rotaryDim}`);
  const rows = width === 0 ? 0 : x.size / width;
  if (opts.positions.length !== rows)
    throw new RangeError(`${op}: ${opts.positions.length} positions for ${rows} rows of x ${formatShape(x.shape)}`);
  const rotate = (t: Tensor, inverse: boolean): Tensor => {
    const out = t.copyPacked();
    kernel(be, 'rope', op)({ rows, heads: opts.heads, headDim, rotaryDim, rowStride: width, x: out.buf(), positions: opts.positions,
      theta: opts.theta ?? 10000, interleaved: opts.interleaved ?? false, inverse, invFreq: opts.invFreq ?? null,
      attentionFactor: opts.attentionFactor ?? 1 });
    return out;
  };
  return record(rotate(x, false), op, [x], (g) => [rotate(g, true)]);
}
