/**
 * (IA)3 with one vector per row's task in one batch: the base output x W^T + b once, each task's vector
 * on its runs of rows.
 */
import { zeros } from '../../tensor/creation';
import { matmul, mul } from '../../tensor/ops';
import { formatShape } from '../../tensor/shape';
import type { Tensor } from '../../tensor/tensor';
import { runsOf } from '../mixed_rows';
import { launchIa3Backward } from './launch';

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
    const g = launchIa3Backward(xr, w, vectors[run.adapter], 'output', dyr, pr);
    dx.data.set(g.dx!.data, run.start * x.shape[1]);
    const dl = dls[run.adapter].data;
    g.dl.data.forEach((v, i) => { dl[i] += v; });
    [xr, dyr, pr, g.dx!, g.dl].forEach((t) => t.dispose());
  }
  return { dx, dls };
}
