/**
 * Several adapters on one frozen linear layer, in one batch: either all active at once (their deltas
 * summed), or one adapter per row (a per-sample index, -1 for "no adapter"), as in a mixed-task batch.
 * The base output x W^T + b is computed once; each adapter's term is the fused kernel on its rows,
 * which are contiguous runs of the batch (a sample's tokens are consecutive rows).
 */
import { formatShape } from './shape';
import { ia3LinearBackward, type LoraOptions, loraLinear, loraLinearBackward } from './peft_ops';
import { zeros } from './creation';
import { add, matmul, mul } from './ops';
import type { Tensor } from './tensor';

/** The sentinel in a per-row adapter index for rows that use no adapter. */
export const NO_ADAPTER = -1;

export interface LoraAdapterWeights extends LoraOptions {
  a: Tensor;
  b: Tensor;
}

/** A run of consecutive rows [start, end) that use the same adapter. */
interface Run {
  start: number;
  end: number;
  adapter: number;
}

function runsOf(rowAdapter: ArrayLike<number>, rows: number, adapters: number, op: string): Run[] {
  if (rowAdapter.length !== rows) throw new RangeError(`${op}: the adapter index has ${rowAdapter.length} entries, expected one per row (${rows})`);
  const runs: Run[] = [];
  for (let t = 0; t < rows; t++) {
    const i = rowAdapter[t];
    if (!Number.isInteger(i) || i < NO_ADAPTER || i >= adapters)
      throw new RangeError(`${op}: row ${t} names adapter ${i}, expected -1 (none) or 0..${adapters - 1}`);
    const last = runs[runs.length - 1];
    if (last && last.adapter === i && last.end === t) last.end = t + 1;
    else runs.push({ start: t, end: t + 1, adapter: i });
  }
  return runs.filter((r) => r.adapter !== NO_ADAPTER);
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
    const { u } = loraLinear(xr, null, null, ad.a, ad.b, { ...ad, rowOffset: (ad.rowOffset ?? 0) + run.start }, yr);
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
    const g = loraLinearBackward(xr, null, ad.a, ad.b, run.u, dyr,
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

/**
 * (IA)3 output scaling with one vector per row's task: y[t] = (x W^T + b)[t] * l[rowTask[t]];
 * rows with NO_ADAPTER keep the base output.
 */
export function ia3MixedForward(x: Tensor, w: Tensor, bias: Tensor | null, vectors: Tensor[], rowTask: ArrayLike<number>): { y: Tensor; yPre: Tensor } {
  const op = 'ia3MixedForward';
  const T = x.shape[0], N = w.shape[0];
  const runs = runsOf(rowTask, T, vectors.length, op);
  const yPre = matmul(x, w.T, bias ? { bias } : {});
  const y = yPre.clone();
  for (const run of runs) {
    const l = vectors[run.adapter];
    if (l.size !== N) throw new RangeError(`${op}: vector ${run.adapter} must be [${N}], got ${formatShape(l.shape)}`);
    const pr = yPre.slice(0, run.start, run.end);
    const scaled = mul(pr, l.reshape([N]));
    y.data.set(scaled.data, run.start * N);
    [pr, scaled].forEach((t) => t.dispose());
  }
  return { y, yPre };
}

/** Gradients of ia3MixedForward: dx and one dl per vector (zeros for vectors no row used). */
export function ia3MixedBackward(x: Tensor, w: Tensor, vectors: Tensor[], rowTask: ArrayLike<number>, dy: Tensor, yPre: Tensor): { dx: Tensor; dls: Tensor[] } {
  const T = x.shape[0];
  const runs = runsOf(rowTask, T, vectors.length, 'ia3MixedBackward');
  const dx = matmul(dy, w);  // rows without a task; the others are overwritten below
  const dls = vectors.map((l) => zeros(l.shape));
  for (const run of runs) {
    const rows = (t: Tensor) => t.slice(0, run.start, run.end).contiguous();
    const xr = rows(x), dyr = rows(dy), pr = rows(yPre);
    const g = ia3LinearBackward(xr, w, vectors[run.adapter], 'output', dyr, pr);
    dx.data.set(g.dx!.data, run.start * x.shape[1]);
    const dl = dls[run.adapter].data;
    g.dl.data.forEach((v, i) => { dl[i] += v; });
    [xr, dyr, pr, g.dx!, g.dl].forEach((t) => t.dispose());
  }
  return { dx, dls };
}
