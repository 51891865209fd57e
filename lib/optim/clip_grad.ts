/**
 * clipGradNorm: torch.nn.utils.clip_grad_norm_. The norm of all gradients together (as if concatenated);
 * when it exceeds maxNorm every gradient is scaled in place by maxNorm / (total + 1e-6).
 * clipGradNormTensor does the same with the norm and the factor kept on the gradients' device (a GPU step
 * then never waits for the host); clipGradNorm runs it there and reads the norm once at the end.
 */
import { type Backend, getBackend, withBackend } from '../backend';
import { empty, full } from '../tensor/creation';
import { noGrad } from '../tensor/autograd';
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
  if (normType === 2 && backendFor(grads[0], 'clipGradNorm').device !== 'cpu') {
    const total = clipOnDevice(grads, maxNorm);
    const value = total.item();
    total.dispose();
    return value;
  }
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

/**
 * The 2-norm clipping of clipGradNorm with nothing read back to the host: returns the total norm before
 * clipping as a one-element tensor on the gradients' backend (read it with .item() when you need the number,
 * e.g. every logging step). The sum of squares is float32 there, as torch's per-tensor norms are.
 */
export function clipGradNormTensor(params: Tensor | Tensor[], maxNorm: number): Tensor {
  if (typeof maxNorm !== 'number' || Number.isNaN(maxNorm) || maxNorm < 0)
    throw new RangeError(`clipGradNormTensor: maxNorm must be a number >= 0, got ${String(maxNorm)}`);
  const grads = gradsOf(params);
  grads.forEach((g, i) => {
    g.assertAlive('clipGradNormTensor');
    if (!g.isContiguous()) throw new Error(`clipGradNormTensor: gradient ${i} (shape [${g.shape.join(', ')}]) is not contiguous`);
  });
  if (grads.length === 0) return withBackend(getBackend().name, () => noGrad(() => full([1], 0)));
  return clipOnDevice(grads, maxNorm);
}

/**
 * total = sqrt(sum over g of rowSum(g * g)); coef = min(1, maxNorm / (total + 1e-6)) as 1 - relu(1 - q), which
 * keeps a NaN norm NaN as torch's clamp does; then every g *= coef (a one-element b broadcast). All primitives,
 * all on the device, one scratch the size of the largest gradient.
 */
function clipOnDevice(grads: Tensor[], maxNorm: number): Tensor {
  const be = backendFor(grads[0], 'clipGradNorm');
  grads.forEach((g, i) => {
    if (backendFor(g, 'clipGradNorm') !== be) throw new Error(`clipGradNorm: gradient ${i} is on the ${backendFor(g, 'clipGradNorm').name} backend, gradient 0 on ${be.name}`);
  });
  return withBackend(be.name, () => noGrad(() => {
    const largest = Math.max(...grads.map((g) => g.size));
    const squares = empty([Math.max(largest, 1)]), part = empty([1]), total = full([1], 0), coef = empty([1]);
    for (const g of grads) {
      if (g.size === 0) continue;
      be.binary({ op: 'mul', a: g.buf('clipGradNorm'), b: g.buf('clipGradNorm'), out: squares.buf(), n: g.size, bLength: g.size });
      be.rowReduce({ op: 'sum', a: squares.buf(), out: part.buf(), rows: 1, cols: g.size });
      be.binary({ op: 'add', a: total.buf(), b: part.buf(), out: total.buf(), n: 1, bLength: 1 });
    }
    be.unary({ op: 'sqrt', a: total.buf(), out: total.buf(), n: 1 });
    clipFactor(be, total, maxNorm, coef);
    for (const g of grads)
      if (g.size > 0) be.binary({ op: 'mul', a: g.buf('clipGradNorm'), b: coef.buf(), out: g.buf('clipGradNorm'), n: g.size, bLength: 1 });
    squares.dispose(), part.dispose(), coef.dispose();
    return total;
  }));
}

/** coef = min(1, maxNorm / (total + 1e-6)), on the device. */
function clipFactor(be: Backend, total: Tensor, maxNorm: number, coef: Tensor): void {
  be.scale({ a: total.buf(), out: coef.buf(), n: 1, alpha: 1, beta: 1e-6 });
  const limit = full([1], maxNorm);
  be.binary({ op: 'div', a: limit.buf(), b: coef.buf(), out: coef.buf(), n: 1, bLength: 1 });
  limit.dispose();
  be.scale({ a: coef.buf(), out: coef.buf(), n: 1, alpha: -1, beta: 1 });
  be.unary({ op: 'relu', a: coef.buf(), out: coef.buf(), n: 1 });
  be.scale({ a: coef.buf(), out: coef.buf(), n: 1, alpha: -1, beta: 1 });
}
