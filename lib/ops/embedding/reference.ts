/**
 * The reference the embedding lookup and its gradient: plain loops over any float array, and the js
 * backend's kernels over them.
 */
import { type Arr, at, opt } from '../reference_helpers';
import type { EmbeddingKernels } from './kernel';

/** out[i, :] = table[ids[i], :]. */
export function embeddingForward(n: number, dim: number, ids: Int32Array, table: Arr, out: Arr): void {
  for (let i = 0; i < n; i++)
    for (let j = 0; j < dim; j++) out[i * dim + j] = table[ids[i] * dim + j];
}

/** dtable[ids[i], :] += dy[i, :]. */
export function embeddingBackward(n: number, dim: number, ids: Int32Array, dy: Arr, dtable: Arr): void {
  for (let i = 0; i < n; i++)
    for (let j = 0; j < dim; j++) dtable[ids[i] * dim + j] += dy[i * dim + j];
}

/** The js backend's kernels: the math above on float32 storage. */
export const jsEmbeddingKernels: EmbeddingKernels = {
  embeddingForward(p) {
    embeddingForward(p.n, p.dim, p.ids, at(p.table), at(p.out));
  },

  embeddingBackward(p) {
    embeddingBackward(p.n, p.dim, p.ids, at(p.dy), at(p.dtable));
  },
};
