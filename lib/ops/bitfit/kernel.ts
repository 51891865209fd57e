/**
 * BitFit's kernel: the backward of a frozen linear layer whose bias trains. What every backend implements
 * and the argument checks every backend runs before it (bitfit_binding.cc keeps the same).
 */
import type { KernelChecks } from '../../backend/checks';
import type { Buf } from '../../backend/types';

export interface BitfitKernels {
  /** dx = dy W (dx may be null), dbias = column sums of dy. */
  bitfitBackward(p: { T: number; K: number; N: number; dy: Buf; w: Buf; dx: Buf | null; dbias: Buf }): void;
}

export const bitfitChecks: KernelChecks<BitfitKernels> = {
  bitfitBackward(p, c) {
    const T = c.dim('T', p.T), K = c.dim('K', p.K), N = c.dim('N', p.N);
    c.buf('dy', p.dy, c.mul(T, N));
    c.buf('w', p.w, c.mul(N, K));
    c.optBuf('dx', p.dx, c.mul(T, K));
    c.buf('dbias', p.dbias, N);
  },
};
