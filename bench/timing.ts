/** Timing: warm-up, then repeated runs until a count or a time budget, reporting the median. */

export interface Timing {
  medianMs: number;
  runs: number;
}

export function timeIt(fn: () => void, opts: { warmup?: number; minRuns?: number; maxRuns?: number; budgetMs?: number } = {}): Timing {
  const { warmup = 1, minRuns = 3, maxRuns = 15, budgetMs = 2000 } = opts;
  for (let i = 0; i < warmup; i++) fn();
  const samples: number[] = [];
  const start = performance.now();
  while (samples.length < maxRuns && (samples.length < minRuns || performance.now() - start < budgetMs)) {
    const t0 = performance.now();
    fn();
    samples.push(performance.now() - t0);
  }
  samples.sort((a, b) => a - b);
  const mid = samples.length >> 1;
  const medianMs = samples.length % 2 ? samples[mid] : (samples[mid - 1] + samples[mid]) / 2;
  return { medianMs, runs: samples.length };
}

/**
 * Times two steps alternately (a, b, a, b, ...) and reports the median of the per-pair ratios b / a.
 * On a shared machine the load drifts over seconds; two rows timed one after the other can differ by
 * 20% from that alone, while a and b timed back to back see the same load.
 */
export function timeRatio(a: () => void, b: () => void, opts: { pairs?: number; budgetMs?: number } = {}): { ratio: number; pairs: number } {
  const { pairs = 15, budgetMs = 6000 } = opts;
  a();
  b();
  const ratios: number[] = [];
  const start = performance.now();
  while (ratios.length < pairs && (ratios.length < 5 || performance.now() - start < budgetMs)) {
    const t0 = performance.now();
    a();
    const t1 = performance.now();
    b();
    ratios.push((performance.now() - t1) / (t1 - t0));
  }
  ratios.sort((x, y) => x - y);
  const mid = ratios.length >> 1;
  return { ratio: ratios.length % 2 ? ratios[mid] : (ratios[mid - 1] + ratios[mid]) / 2, pairs: ratios.length };
}
