/**
 * (IA)3 on autograd, over the fused kernels (launch.ts): 'output' mode
 * y = (x W^T + b) * l with the scale in the GEMM's epilogue, 'input' mode y = (x * l) W^T + b with the scale
 * folded into the GEMM's packing of x. The backward gives dx and dl without forming dW. Where W cannot take
 * the fused path (it trains, its bias trains, or it is a transposed view such as GPT-2's Conv1D weight) the
 * same function is composed from linear and a row-broadcast mul, which autograd differentiates as usual.
 *
 * l may have any shape with N (output) or K (input) elements (HF keeps [N, 1] and [1, K]); its gradient
 * comes back in l's shape.
 */
import { noGrad, record } from '../../tensor/autograd';
import { full, zeros } from '../../tensor/creation';
import { add, linear, mul } from '../../tensor/ops';
import { rows2d } from '../../tensor/raw_views';
import { formatShape, sizeOf } from '../../tensor/shape';
import { concat } from '../../tensor/shape_ops';
import { Tensor } from '../../tensor/tensor';
import { NO_ADAPTER } from '../mixed_rows';
import type { Ia3Mode } from './kernel';
import { launchIa3Backward, launchIa3Forward } from './launch';
import { ia3MixedBackward, ia3MixedForward } from './mixed';

/** A view of t's data in another shape, outside the graph. */
function view(t: Tensor, shape: readonly number[]): Tensor {
  const c = t.isContiguous() ? t : t.copyPacked();
  const v = new Tensor(c.storage, shape, undefined, c.offset);
  if (c !== t) c.dispose();
  return v;
}

/** Whether W (and its bias) can feed the fused kernel: frozen, contiguous [N, K]. */
export function fusedIa3Applies(w: Tensor, bias: Tensor | null): boolean {
  return !w.requiresGrad && w.isContiguous() && w.rank === 2 && !(bias?.requiresGrad ?? false);
}

function checkScale(op: string, l: Tensor, n: number, mode: Ia3Mode): void {
  if (mode !== 'output' && mode !== 'input') throw new RangeError(`${op}: mode must be 'output' or 'input', got '${String(mode)}'`);
  if (l.size !== n) throw new RangeError(`${op}: the ${mode} scale must have ${n} elements, got ${formatShape(l.shape)}`);
}

/** x [..., K] -> [..., N] through the fused (IA)3 kernels; W frozen and contiguous. */
export function ia3LinearFused(x: Tensor, w: Tensor, bias: Tensor | null, l: Tensor, mode: Ia3Mode): Tensor {
  const op = 'ia3Linear';
  if (!fusedIa3Applies(w, bias)) throw new Error(`${op}: W and its bias must be frozen and W a contiguous [N, K] matrix (use ia3Linear otherwise)`);
  const [n, k] = w.shape;
  checkScale(op, l, mode === 'output' ? n : k, mode);
  if (x.shape[x.rank - 1] !== k) throw new RangeError(`${op}: x must be [..., ${k}], got ${formatShape(x.shape)}`);
  const lead = x.shape.slice(0, -1);
  const x2 = rows2d(x);
  const lv = view(l, [l.size]);
  // The output mode's dl needs the unscaled output; without a trained l, y stands in for it (dl is dropped).
  const { y, yPre } = launchIa3Forward(x2, w, bias, lv, mode, { keepPre: l.requiresGrad });
  const out = view(y, [...lead, n]);
  y.dispose();
  const result = record(out, op, [x, w, bias, l], (g, [xs, ws, ls, pre], needs) => {
    const g2 = rows2d(g);
    const xm = rows2d(xs);
    const grads = launchIa3Backward(xm, ws, ls, mode, g2, mode === 'output' ? pre : null, { inputGrad: needs[0] });
    g2.dispose();
    xm.dispose();
    const dx = grads.dx ? view(grads.dx, x.shape) : null;
    grads.dx?.dispose();
    const dl = needs[3] ? view(grads.dl, l.shape) : null;
    grads.dl.dispose();
    return [dx, null, null, dl];
  }, [x, w, lv, yPre ?? out]);
  x2.dispose();
  lv.dispose();
  yPre?.dispose();
  return result;
}

/** The same function from linear and mul (any W layout, trainable or not). */
export function ia3LinearComposed(x: Tensor, w: Tensor, bias: Tensor | null, l: Tensor, mode: Ia3Mode): Tensor {
  const [n, k] = w.shape;
  checkScale('ia3Linear', l, mode === 'output' ? n : k, mode);
  const row = l.reshape([l.size]);
  if (mode === 'output') return mul(linear(x, w, bias), row);
  return linear(mul(x, row), w, bias);
}

/** (IA)3 on whatever W is: fused when it can be. */
export function ia3Linear(x: Tensor, w: Tensor, bias: Tensor | null, l: Tensor, mode: Ia3Mode): Tensor {
  if (fusedIa3Applies(w, bias)) return ia3LinearFused(x, w, bias, l, mode);
  return ia3LinearComposed(x, w, bias, l, mode);
}

/**
 * A mixed batch: row t scaled by vectors[rowTask[t]] (NO_ADAPTER: unscaled). The output mode on a frozen
 * contiguous W runs the mixed kernels (mixed.ts); otherwise a per-row scale matrix
 * is built from the vectors (a row-broadcast per run of equal tasks, concatenated) and applied as above.
 */
export function ia3Mixed(x: Tensor, w: Tensor, bias: Tensor | null, vectors: Tensor[], rowTask: Int32Array, mode: Ia3Mode): Tensor {
  const op = 'ia3Mixed';
  const [n, k] = w.shape;
  const d = mode === 'output' ? n : k;
  vectors.forEach((v) => checkScale(op, v, d, mode));
  const lead = x.shape.slice(0, -1);
  const rows = sizeOf(lead);
  if (rowTask.length !== rows) throw new RangeError(`${op}: the task index has ${rowTask.length} entries, expected one per row (${rows})`);
  if (mode === 'output' && fusedIa3Applies(w, bias)) {
    const x2 = rows2d(x);
    const vs = vectors.map((v) => view(v, [d]));
    const { y, yPre } = noGrad(() => ia3MixedForward(x2, w, bias, vs, rowTask));
    const out = view(y, [...lead, n]);
    y.dispose();
    const result = record(out, op, [x, w, bias, ...vectors], (g, [xs, ws, pre, ...vsaved], needs) => {
      const g2 = rows2d(g), xm = rows2d(xs);
      const { dx, dls } = ia3MixedBackward(xm, ws, vsaved, rowTask, g2, pre);
      g2.dispose();
      xm.dispose();
      const dxOut = needs[0] ? view(dx, x.shape) : null;
      dx.dispose();
      const dv = dls.map((t, i) => (needs[3 + i] ? view(t, vectors[i].shape) : null));
      dls.forEach((t) => t.dispose());
      return [dxOut, null, null, ...dv];
    }, [x, w, yPre, ...vs]);
    x2.dispose();
    yPre.dispose();
    vs.forEach((v) => v.dispose());
    return result;
  }
  const runs: Tensor[] = [];
  for (let start = 0; start < rows;) {
    let end = start + 1;
    while (end < rows && rowTask[end] === rowTask[start]) end++;
    const task = rowTask[start];
    if (task !== NO_ADAPTER && !(task >= 0 && task < vectors.length)) throw new RangeError(`${op}: row ${start} names task ${task}, expected -1 (none) or 0..${vectors.length - 1}`);
    if (task === NO_ADAPTER) runs.push(full([end - start, d], 1));
    else {
      const z = zeros([end - start, d]);
      runs.push(add(z, vectors[task].reshape([d])));
      z.dispose();
    }
    start = end;
  }
  const scale = runs.length === 1 ? runs[0] : concat(runs, 0);
  const x2 = x.reshape([rows, k]);
  const y = mode === 'output' ? mul(linear(x2, w, bias), scale) : linear(mul(x2, scale), w, bias);
  return y.reshape([...lead, n]);
}
