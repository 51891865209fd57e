/**
 * clipGradNorm: torch.nn.utils.clip_grad_norm_. The norm of all gradients together (as if concatenated);
 * when it exceeds maxNorm every gradient is scaled in place by maxNorm / (total + 1e-6).
 */
import { getBackend } from '../backend';
import { backendFor, Tensor } from '../tensor/tensor';

function gradsOf(params: Tensor | Tensor[]): Tensor[] {
  const list = params instanceof Tensor ? [params] : params;
  if (!Array.isArray(list)) throw new TypeError('clipGradNorm: params must be a Tensor or an array of Tensors');
  return list.filter((p) => {
    if (!(p instanceof Tensor)) throw new TypeError('clipGradNorm: params must be Tensors');
    return p.grad !== null;
  }).map((p) => p.grad!);
}

/** Sum of squares on the gradient's backend (host fallback where the backend has no kernel). */
function sumSquares(g: Tensor): number {
  const b = getBackend();
  if (b.kernels.has('sumSquares') && g.device === b.device) return b.kernels.get('sumSquares', 'clipGradNorm')({ x: g.buf('clipGradNorm'), n: g.size });
  let s = 0;
  for (const x of g.toFloat32Array()) s += x * x;
  return s;
}

/** Returns the total norm before clipping (0 when no parameter has a gradient). normType: p > 0 or Infinity. */
export function clipGradNorm(params: Tensor | Tensor[], maxNorm: number, normType = 2): number {
  if (typeof maxNorm !== 'number' || Number.isNaN(maxNorm) || maxNorm < 0)
    throw new RangeError(`clipGradNorm: maxNorm must be a number >= 0, got ${String(maxNorm)}`);
  if (typeof normType !== 'number' || !(normType > 0)) throw new RangeError(`clipGradNorm: normType must be > 0 or Infinity, got ${String(normType)}`);
  const grads = gradsOf(params);
  grads.forEach((g, i) => {
    g.assertAlive('clipGradNorm');
    if (!g.isContiguous()) throw new Error(`clipGradNorm: gradient ${i} (shape [${g.shape.join(', ')}]) is not contiguous`);
  });
  if (grads.length === 0) return 0;
  let total: number;
  if (normType === 2) {
    total = Math.sqrt(grads.reduce((acc, g) => acc + sumSquares(g), 0));
  } else if (normType === Infinity) {
    // Rare outside tests: read the values to the host.
    total = 0;
    for (const g of grads) for (const x of g.toFloat32Array()) total = Math.abs(x) > total || Number.isNaN(x) ? Math.abs(x) : total;
  } else {
    let s = 0;
    for (const g of grads) for (const x of g.toFloat32Array()) s += Math.abs(x) ** normType;
    total = s ** (1 / normType);
  }
  const coef = maxNorm / (total + 1e-6);
  // torch multiplies by min(coef, 1) always; skipping the multiply by 1 changes no value. A NaN or
  // infinite norm still scales (to NaN or 0), as torch does without error_if_nonfinite.
  if (!(coef >= 1)) {
    for (const g of grads) backendFor(g, 'clipGradNorm').scale({ a: g.buf('clipGradNorm'), out: g.buf('clipGradNorm'), n: g.size, alpha: coef, beta: 0 });
  }
  return total;
}
