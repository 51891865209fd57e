/**
 * BOFT's butterfly permutations (HF's BOFTLayer.block_butterfly_perm and perm2mat, src/peft/tuners/boft/
 * layer.py at 5d602fd). HF stores them as dense boft_P [factors, in, in] buffers (persistent=False: never in
 * the adapter file) and multiplies by them. Here they are applied as what they are, strided reorders of
 * the feature axis: factor i cuts the features into D / 2^i groups of L = bs 2^i, each group into
 * 2^(i+1) pieces of bs / 2, and HF's sort_block puts the even pieces before the odd ones:
 *   perm[g L + j (bs/2) + t] = g L + s_j (bs/2) + t,  s = [0, 2, 4, ..., 1, 3, 5, ...]
 * i.e. with s_j = 2q + h for j = h 2^i + q, a [q, h] -> [h, q] transpose inside each group. The formula
 * is checked against HF's construction (transcribed below) for every layer shape it is used on.
 */
import type { Tensor } from '../../../tensor/tensor';

/** HF's block_butterfly_perm(n, b, r, n_butterfly_factor), transcribed (n_butterfly_factor is HF's, minus 1). */
export function blockButterflyPerm(n: number, b: number, r: number, nButterflyFactor: number): number[] {
  const indices = Array.from({ length: n }, (_, i) => i);
  if (nButterflyFactor === 0) return indices;
  if (b * r * 2 > n) throw new RangeError('BOFT: Invalid number of blocks!');
  const blockSize = Math.floor(n / b);
  // sort_block(block_size, r): step = block_size / r; evens then odds of arange(step); r indices each.
  const step = blockSize / r;
  const seq: number[] = [];
  for (let v = 0; v < step; v += 2) seq.push(v);
  for (let v = 1; v < step; v += 2) seq.push(v);
  const sorted = new Array<number>(blockSize);
  seq.forEach((pos, i) => {
    for (let t = 0; t < r; t++) sorted[i * r + t] = pos * r + t;
  });
  for (let i = 0; i < n; i += blockSize) {
    const tmp = indices.slice(i, i + blockSize);
    for (let j = 0; j < blockSize; j++) indices[i + j] = tmp[sorted[j]];
  }
  return indices;
}

/** One butterfly factor's permutation as a reorder: `groups` groups of 2 x `half` pieces of `piece` features. */
export interface ButterflyPerm {
  groups: number;
  half: number;
  piece: number;
}

/**
 * Factor i (0-based) of a layer with in_features n, D blocks of bs, and HF's n_butterfly_factor - 1 = nbf;
 * throws if the reorder differs from HF's permutation (it cannot, for the shapes BOFT's checks admit).
 */
export function butterflyPerm(n: number, blockNum: number, blockSize: number, nbf: number, i: number): ButterflyPerm {
  // Without butterfly factors HF's permutation is arange(n): nothing to reorder.
  if (nbf === 0) return { groups: 1, half: 1, piece: n };
  const hf = blockButterflyPerm(n, Math.trunc(blockNum / 2 ** i), Math.trunc(blockSize / 2), nbf);
  const spec: ButterflyPerm = { groups: Math.trunc(blockNum / 2 ** i), half: 2 ** i, piece: blockSize / 2 };
  const { groups, half, piece } = spec;
  const len = 2 * half * piece;
  for (let g = 0; g < groups; g++)
    for (let h = 0; h < 2; h++) for (let q = 0; q < half; q++) for (let t = 0; t < piece; t++) {
      const c = g * len + (h * half + q) * piece + t;
      if (hf[c] !== g * len + (2 * q + h) * piece + t) throw new Error(`BOFT: internal error: butterfly permutation ${i} of ${n} features is not the expected reorder`);
    }
  return spec;
}

/** x [rows, n] P^T: y[:, c] = x[:, perm[c]] (a strided copy; differentiable). */
export function gatherPerm(x: Tensor, p: ButterflyPerm): Tensor {
  return reorder(x, p, [p.groups, p.half, 2, p.piece]);
}

/** x [rows, n] P: y[:, perm[a]] = x[:, a], the inverse reorder. */
export function scatterPerm(x: Tensor, p: ButterflyPerm): Tensor {
  return reorder(x, p, [p.groups, 2, p.half, p.piece]);
}

function reorder(x: Tensor, p: ButterflyPerm, view: number[]): Tensor {
  if (p.half === 1) return x.reshape(x.shape);
  const [rows, n] = x.shape;
  const v = x.reshape([rows, ...view]);
  const t = v.permute([0, 1, 3, 2, 4]);
  const out = t.reshape([rows, n]);
  v.dispose();
  t.dispose();
  return out;
}
