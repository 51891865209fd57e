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
