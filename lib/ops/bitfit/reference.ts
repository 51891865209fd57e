/** The reference BitFit kernel: the math as plain loops, and the js backend's kernel over it. */
import { type Arr, alloc, at, put } from '../reference_helpers';
import type { BitfitKernels } from './kernel';

/** BitFit's backward of y = x W^T + b with W frozen: dx = dy W and db = column sums of dy. */
export function bitfitBackward(T: number, K: number, N: number, w: Arr, dy: Arr): { dx: Arr; dbias: Arr } {
  const dx = alloc(dy, T * K), dbias = alloc(dy, N);
  for (let t = 0; t < T; t++) {
    for (let n = 0; n < N; n++) dbias[n] += dy[t * N + n];
    for (let k = 0; k < K; k++) {
      let s = 0;
      for (let n = 0; n < N; n++) s += dy[t * N + n] * w[n * K + k];
      dx[t * K + k] = s;
    }
  }
  return { dx, dbias };
}

/** The js backend's kernel: the math above on float32 storage. */
export const jsBitfitKernels: BitfitKernels = {
  bitfitBackward(p) {
    const g = bitfitBackward(p.T, p.K, p.N, at(p.w), at(p.dy));
    put(p.dx, g.dx);
    put(p.dbias, g.dbias);
  },
};
