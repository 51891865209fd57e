/** Rotary position embeddings on [..., heads * headDim] rows (q or k), out of place; the backward rotates back. */
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
      theta: opts.theta ?? 10000, interleaved: opts.interleaved ?? false, inverse });
    return out;
  };
  return record(rotate(x, false), op, [x], (g) => [rotate(g, true)]);
}
