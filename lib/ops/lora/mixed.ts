/**
 * Several LoRA adapters on one frozen linear layer, in one batch: either all active at once (their deltas
 * summed), or one adapter per row (a per-sample index, -1 for "no adapter"), as in a mixed-task batch.
 * The base output x W^T + b is computed once; each adapter's term is the fused kernel on its rows,
 * which are contiguous runs of the batch (a sample's tokens are consecutive rows).
 */
import { zeros } from '../../tensor/creation';
import { add, matmul, mul } from '../../tensor/ops';
import { formatShape } from '../../tensor/shape';
import type { Tensor } from '../../tensor/tensor';
import { NO_ADAPTER, type Run, runsOf } from '../mixed_rows';
import { type LoraOptions, launchLoraBackward, launchLoraForward } from './launch';

export interface LoraAdapterWeights extends LoraOptions {
  a: Tensor;
  b: Tensor;
}

/** What the backward needs: each run's rows and its u = drop(x) A^T. */
export interface LoraMixedSaved {
  runs: (Run & { u: Tensor })[];
}

/**
 * y = x W^T + b + the adapters' terms. rowAdapter = null: every adapter on every row (summed);
 * otherwise rowAdapter[t] picks row t's adapter (or NO_ADAPTER).
 */
export function loraMixedForward(x: Tensor, w: Tensor, bias: Tensor | null, adapters: LoraAdapterWeights[],
                                 rowAdapter: ArrayLike<number> | null): { y: Tensor; saved: LoraMixedSaved } {
  const op = 'loraMixedForward';
  if (x.rank !== 2) throw new RangeError(`${op}: x must be 2-D, got ${formatShape(x.shape)}`);
  const T = x.shape[0];
  const runs = rowAdapter === null
    ? adapters.map((_, i) => ({ start: 0, end: T, adapter: i }))
    : runsOf(rowAdapter, T, adapters.length, op);
  const y = matmul(x, w.T, bias ? { bias } : {});
  const saved: LoraMixedSaved = { runs: [] };
  for (const run of runs) {
    const ad = adapters[run.adapter];
    const rows = (t: Tensor) => (run.start === 0 && run.end === T ? t : t.slice(0, run.start, run.end));
    const xr = rows(x), yr = rows(y);
    const { u } = launchLoraForward(xr, null, null, ad.a, ad.b, { ...ad, rowOffset: (ad.rowOffset ?? 0) + run.start }, yr);
    saved.runs.push({ ...run, u });
    if (xr !== x) { xr.dispose(); yr.dispose(); }
  }
  return { y, saved };
}

/** Gradients for each adapter (null for adapters no row used) and dx (unless inputGrad is false). */
export function loraMixedBackward(x: Tensor, w: Tensor, adapters: LoraAdapterWeights[], saved: LoraMixedSaved, dy: Tensor,
                                  opts: { inputGrad?: boolean } = {}): { dx: Tensor | null; grads: ({ da: Tensor; db: Tensor } | null)[] } {
  const T = x.shape[0];
  const dx = opts.inputGrad ?? true ? matmul(dy, w) : null;
  const grads: ({ da: Tensor; db: Tensor } | null)[] = adapters.map(() => null);
  for (const run of saved.runs) {
    const ad = adapters[run.adapter];
    const whole = run.start === 0 && run.end === T;
    const rows = (t: Tensor) => (whole ? t : t.slice(0, run.start, run.end));
    const xr = rows(x), dyr = rows(dy), dxr = dx ? rows(dx) : undefined;
    const g = launchLoraBackward(xr, null, ad.a, ad.b, run.u, dyr,
      { ...ad, rowOffset: (ad.rowOffset ?? 0) + run.start, inputGrad: dx !== null, intoDx: dxr });
    const acc = grads[run.adapter];
    if (acc === null) grads[run.adapter] = { da: g.da, db: g.db };
    else {
      // Another run of the same adapter: its parameter gradients add up.
      grads[run.adapter] = { da: add(acc.da, g.da), db: add(acc.db, g.db) };
      [acc.da, acc.db, g.da, g.db].forEach((t) => t.dispose());
    }
    if (!whole) { xr.dispose(); dyr.dispose(); dxr?.dispose(); }
  }
  return { dx, grads };
}
