/**
 * The js reference backend on the gemm rows. Its loops take minutes at the larger shapes, so it is
 * timed on the first rows of x (GEMM time is linear in M) and scaled; the row says how many rows ran.
 */
import { matmul, randn, tidy, withBackend } from '../lib';
import { timeIt } from './timing';

export function timeJsGemm(M: number, N: number, K: number): { ms: number; rowsTimed: number } {
  // About 0.5 s of js per run at ~0.3 GFLOP/s.
  const rows = Math.max(1, Math.min(M, Math.floor(1.5e8 / (2 * N * K))));
  const t = withBackend('js', () => tidy(() => {
    const x = randn([rows, K], { seed: 1 }), w = randn([N, K], { seed: 2 });
    return timeIt(() => tidy(() => { matmul(x, w.T); }), { warmup: 0, minRuns: 3, budgetMs: 1500 });
  }));
  return { ms: t.medianMs * (M / rows), rowsTimed: rows };
}
