/**
 * The ddp_step rows (bench/ddp_step.ts) as bench JSON rows and as the printed table: per row the step
 * time, tokens/s over all ranks, the all-reduce's median ms and share of the step, the bytes each rank
 * reduces per step, and for 2 ranks the scaling efficiency (2-rank tokens/s over 2 x the 1-rank row's).
 */
import type { BenchRow } from './main';
import { rowFlops, shapeLabel } from './rows';
import { formatTable } from './table';
import { type DdpRowResult, runDdpStepRows } from './ddp_step';

export { runDdpStepRows };

export function ddpBenchRow(r: DdpRowResult, peak: number): BenchRow {
  const t = r.timing!, flops = rowFlops(r.spec);
  return {
    name: r.spec.name, shape: r.spec.shape, ms: t.ms, gflops: flops / t.ms / 1e6, peak_fraction: flops / t.ms / 1e6 / peak,
    torch_ms: null, vs_torch: null, tfjs_cpu_ms: null, vs_tfjs_cpu: null, tfjs_wasm_ms: null, vs_tfjs_wasm: null,
    tokens_per_s: t.tokens_per_s, ranks: t.ranks, allreduce_ms: t.allreduce_ms, allreduce_share: t.allreduce_ms / t.ms,
    allreduce_bytes: t.allreduce_bytes, scaling_efficiency: r.efficiency, scaling_efficiency_vs_corun: r.efficiencyVsCorun, losses: t.losses, notes: r.notes,
  };
}

export function formatDdpTable(results: DdpRowResult[]): string {
  const pct = (x: number | null | undefined) => (x === null || x === undefined ? '-' : `${(100 * x).toFixed(1)}%`);
  const table = formatTable(['row', 'shape', 'ms/step', 'tokens/s', 'all-reduce ms', 'all-reduce share', 'MiB/rank/step', 'scaling efficiency', 'side-by-side', 'efficiency vs side-by-side'],
    results.map((r) => {
      const t = r.timing;
      if (!t) return [r.spec.name, shapeLabel(r.spec), '-', '-', '-', '-', '-', '-', '-', '-'];
      return [r.spec.name, shapeLabel(r.spec), t.ms, t.tokens_per_s, t.ranks > 1 ? t.allreduce_ms : '-', t.ranks > 1 ? pct(t.allreduce_ms / t.ms) : '-',
        t.ranks > 1 ? t.allreduce_bytes / 2 ** 20 : '-', pct(r.efficiency), pct(r.corun), pct(r.efficiencyVsCorun)];
    }));
  const notes = results.flatMap((r) => r.notes.map((n) => `${r.spec.name} ${shapeLabel(r.spec)}: ${n}`));
  return [table, ...notes, 'ddp_step: B is per rank (weak scaling); tokens/s counts every rank\'s; scaling efficiency = 2-rank tokens/s / (2 x 1-rank tokens/s); ' +
    'the all-reduce\'s time includes waiting for the slower rank; side-by-side = tokens/s of one of 2 independent 1-rank copies run at once / one alone ' +
    '(the machine\'s own ceiling for 2 processes: memory, caches, other load); efficiency vs side-by-side = scaling efficiency / side-by-side (what DDP itself costs).'].join('\n');
}
