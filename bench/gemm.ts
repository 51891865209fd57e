/**
 * "gemm" rows: y = x W^T (x [M, K], W [N, K]) on the native backend, with the js reference beside it.
 * The js loops take minutes at the larger shapes, so js is timed on the first rows of x (GEMM time is
 * linear in M) and scaled up; the row says how many rows it ran.
 */
import { matmul, randn, setBackend, type Tensor, tidy, withBackend } from '../lib';
import { timeIt } from './timing';

export interface GemmRow {
  name: 'gemm';
  shape: { M: number; N: number; K: number };
  ms: number;
  gflops: number;
  runs: number;
  js_ms: number;
  js_gflops: number;
  js_rows_timed: number;
  speedup_vs_js: number;
}

export const GEMM_SHAPES: [number, number, number][] = [[512, 768, 768], [2048, 768, 768], [2048, 3072, 768], [1024, 4096, 4096]];

function timeGemm(x: Tensor, w: Tensor, budgetMs: number, minRuns: number) {
  return timeIt(() => tidy(() => { matmul(x, w.T); }), { warmup: 1, minRuns, budgetMs });
}

export function benchGemm(M: number, N: number, K: number): GemmRow {
  const flop = 2 * M * N * K;
  setBackend('native');
  const native = tidy(() => timeGemm(randn([M, K], { seed: 1 }), randn([N, K], { seed: 2 }), 3000, 5));
  // About 0.5 s of js per run: rows = 0.5 s * ~0.5 GFLOP/s / (2 N K), at least one row.
  const jsRows = Math.max(1, Math.min(M, Math.floor(2.5e8 / (2 * N * K))));
  const js = withBackend('js', () => tidy(() => timeIt(() => tidy(() => { matmul(randn([jsRows, K], { seed: 1 }), randn([N, K], { seed: 2 }).T); }), { warmup: 0, minRuns: 3, budgetMs: 1500 })));
  const jsMs = js.medianMs * (M / jsRows);
  return {
    name: 'gemm', shape: { M, N, K }, ms: native.medianMs, gflops: flop / native.medianMs / 1e6, runs: native.runs,
    js_ms: jsMs, js_gflops: flop / jsMs / 1e6, js_rows_timed: jsRows, speedup_vs_js: jsMs / native.medianMs,
  };
}
