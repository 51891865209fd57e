/**
 * LoRA on autograd, over the fused kernels: y = x W^T + b + s (drop(x) A^T) B^T in one pass, and a backward
 * giving dx, dA, dB (and db) without ever forming dW. Where W cannot take the fused path (it trains, or it
 * is a transposed view such as GPT-2's Conv1D weight), the base output is computed apart and the adapter's
 * term is added to it by the same kernel (`loraAdd`). A mixed batch (one adapter per row) runs the mixed
 * kernels (`loraMixed`).
 */
import { noGrad, record } from '../../tensor/autograd';
import { zeros } from '../../tensor/creation';
import { columnSum, linear, matmul } from '../../tensor/ops';
import { rows2d } from '../../tensor/raw_views';
import { Tensor } from '../../tensor/tensor';
import { type LoraOptions, launchLoraBackward, launchLoraForward } from './launch';
import { type LoraAdapterWeights, loraMixedBackward, loraMixedForward } from './mixed';

function reshaped(t: Tensor, shape: readonly number[]): Tensor {
  return new Tensor(t.storage, shape, undefined, t.offset);
}

/** Whether W can feed the fused kernel (frozen, contiguous [N, K]). */
export function fusedLoraApplies(w: Tensor): boolean {
  return !w.requiresGrad && w.isContiguous() && w.rank === 2;
}

/** x [..., K] -> [..., N]: the whole LoRA layer in one kernel call each way. W must be frozen and contiguous. */
export function loraLinearFused(x: Tensor, w: Tensor, bias: Tensor | null, a: Tensor, b: Tensor, opts: LoraOptions): Tensor {
  if (!fusedLoraApplies(w)) throw new Error('loraLinearFused: W must be a frozen contiguous [N, K] matrix (use loraAdd otherwise)');
  const n = w.shape[0];
  const lead = x.shape.slice(0, -1);
  const x2 = rows2d(x);
  const { y, u } = launchLoraForward(x2, w, bias, a, b, opts);
  const out = reshaped(y, [...lead, n]);
  y.dispose();
  const result = record(out, 'loraLinear', [x, w, bias, a, b], (g, [xs, ws, as, bs, us], needs) => {
    const g2 = rows2d(g);
    const xm = rows2d(xs);
    const grads = launchLoraBackward(xm, ws, as, bs, us, g2, { ...opts, inputGrad: needs[0], biasGrad: needs[2] });
    g2.dispose();
    xm.dispose();
    const dx = grads.dx ? reshaped(grads.dx, x.shape) : null;
    grads.dx?.dispose();
    return [dx, null, grads.dbias, needs[3] ? grads.da : (grads.da.dispose(), null), needs[4] ? grads.db : (grads.db.dispose(), null)];
  }, [x, w, a, b, u]);
  x2.dispose();
  u.dispose();
  return result;
}

/** base + s (drop(x) A^T) B^T, where base = x W^T + b was computed by any means (its gradient passes through). */
export function loraAdd(base: Tensor, x: Tensor, a: Tensor, b: Tensor, opts: LoraOptions): Tensor {
  const x2 = rows2d(x);
  // The kernel adds into its `into` argument: a private packed copy, so `base` itself is never changed.
  const packed = base.copyPacked();
  const into = rows2d(packed);
  packed.dispose();
  const { u } = launchLoraForward(x2, null, null, a, b, opts, into);
  const out = reshaped(into, base.shape);
  into.dispose();
  const result = record(out, 'loraAdd', [base, x, a, b], (g, [xs, as, bs, us], needs) => {
    const g2 = rows2d(g);
    const xm = rows2d(xs);
    const k = xm.shape[1];
    const intoDx = needs[1] ? zeros([xm.shape[0], k]) : undefined;
    const grads = launchLoraBackward(xm, null, as, bs, us, g2, { ...opts, inputGrad: needs[1], intoDx });
    xm.dispose();
    const dBase = needs[0] ? reshaped(g2, g.shape) : null;
    g2.dispose();
    const dx = grads.dx ? reshaped(grads.dx, x.shape) : null;
    grads.dx?.dispose();
    return [dBase, dx, needs[2] ? grads.da : (grads.da.dispose(), null), needs[3] ? grads.db : (grads.db.dispose(), null)];
  }, [x, a, b, u]);
  x2.dispose();
  u.dispose();
  return result;
}

/** The LoRA layer on whatever W is: fused when it can be, else the base linear plus loraAdd. */
export function loraLinear(x: Tensor, w: Tensor, bias: Tensor | null, a: Tensor, b: Tensor, opts: LoraOptions): Tensor {
  if (fusedLoraApplies(w)) return loraLinearFused(x, w, bias, a, b, opts);
  return loraAdd(linear(x, w, bias), x, a, b, opts);
}

/**
 * A mixed batch: x [..., K] with row t running adapters[rowAdapter[t]] (NO_ADAPTER: the base only), through
 * the mixed kernels (mixed.ts): one base GEMM, each adapter's fused term on its own runs of rows. The
 * backward gives each adapter the gradient of its own rows only (loraMixedBackward), dx, and dW and db
 * where they train. Any W layout (a transposed Conv1D view too).
 */
export function loraMixed(x: Tensor, w: Tensor, bias: Tensor | null, adapters: LoraAdapterWeights[], rowAdapter: Int32Array): Tensor {
  const n = w.shape[0];
  const count = adapters.length;
  const x2 = rows2d(x);
  const { y, saved } = noGrad(() => loraMixedForward(x2, w, bias, adapters, rowAdapter));
  const out = reshaped(y, [...x.shape.slice(0, -1), n]);
  y.dispose();
  const as = adapters.map((ad) => ad.a), bs = adapters.map((ad) => ad.b), us = saved.runs.map((run) => run.u);
  const result = record(out, 'loraMixed', [x, w, bias, ...as, ...bs], (g, [xs, ws, ...rest], needs) => {
    const g2 = rows2d(g);
    const xm = rows2d(xs);
    const weights = adapters.map((ad, i) => ({ ...ad, a: rest[i], b: rest[count + i] }));
    const runs = saved.runs.map((run, i) => ({ ...run, u: rest[2 * count + i] }));
    const { dx, grads } = loraMixedBackward(xm, ws, weights, { runs }, g2, { inputGrad: needs[0] });
    const dw = needs[1] ? matmul(g2.T, xm) : null;
    const dbias = needs[2] ? columnSum(g2) : null;
    g2.dispose();
    xm.dispose();
    const dxOut = dx ? reshaped(dx, x.shape) : null;
    dx?.dispose();
    const keepIf = (t: Tensor | undefined, need: boolean) => (need && t ? t : (t?.dispose(), null));
    return [dxOut, dw, dbias,
      ...grads.map((gr, i) => keepIf(gr?.da, needs[3 + i])), ...grads.map((gr, i) => keepIf(gr?.db, needs[3 + count + i]))];
  }, [x, w, ...as, ...bs, ...us]);
  x2.dispose();
  us.forEach((u) => u.dispose());
  return result;
}
