/**
 * The one finite-difference loop of the specs, and the gradient checks built on it:
 *  - numericGrad: central differences (f(x + eps) - f(x - eps)) / 2 eps of a scalar loss with respect to
 *    every element of a float64 array, perturbed in place and restored;
 *  - expectGradClose: an analytic gradient against numericGrad's, by relative error;
 *  - gradcheck: whole autograd paths in float64 (the js backend switched to Float64Array storage), a random
 *    projection of the output differentiated by numericGrad and compared with what backward() puts in each
 *    input's .grad.
 */
import { backend, fromArray, mul, setBackend, sumAll, type Tensor, tidy } from '../../lib';
import type { JsBackend } from '../../lib/backend/js';
import { hostRandom } from './backends';

/** Runs fn with the js backend active and storing float64. */
export function inFloat64<T>(fn: () => T): T {
  const js = backend('js') as unknown as JsBackend;
  setBackend('js');
  js.precision = 'float64';
  try {
    return fn();
  } finally {
    js.precision = 'float32';
  }
}

function f64(values: Float32Array | number[]): Float64Array {
  return Float64Array.from(values as ArrayLike<number>);
}

/** A writable array of numbers (Float64Array in the checks; Float32Array would lose eps). */
export type Param = { [i: number]: number; readonly length: number };

/**
 * Central differences of loss() with respect to every element of param: param[i] is moved by +eps and
 * -eps in place (loss must read it from there) and restored, so param is unchanged afterwards.
 */
export function numericGrad(param: Param, loss: () => number, eps = 1e-6): Float64Array {
  const g = new Float64Array(param.length);
  for (let i = 0; i < param.length; i++) {
    const keep = param[i];
    try {
      param[i] = keep + eps;
      const up = loss();
      param[i] = keep - eps;
      const down = loss();
      g[i] = (up - down) / (2 * eps);
    } finally {
      param[i] = keep;
    }
  }
  return g;
}

/**
 * Asserts that the largest |analytic - numeric| / max(floor, |numeric|) over the elements is at most tol and
 * returns it; otherwise throws, naming `what`, the worst element and both values (NaN counts as above).
 */
export function expectGradClose(analytic: ArrayLike<number>, numeric: ArrayLike<number>, what: string, tol = 1e-5, floor = 1e-3): number {
  if (analytic.length !== numeric.length) throw new Error(`${what}: analytic gradient has ${analytic.length} elements, numeric ${numeric.length}`);
  let worst = 0, at = -1;
  for (let i = 0; i < numeric.length; i++) {
    const err = Math.abs(analytic[i] - numeric[i]) / Math.max(floor, Math.abs(numeric[i]));
    if (Number.isNaN(err)) { worst = NaN; at = i; break; }
    if (err > worst) { worst = err; at = i; }
  }
  if (!(worst <= tol))
    throw new Error(`${what}: worst relative error ${worst} at element ${at} (analytic ${analytic[at]}, numeric ${numeric[at]}), tolerance ${tol}`);
  expect(worst).toBeLessThanOrEqual(tol);
  return worst;
}

export interface GradcheckCase {
  /** Input shapes and whether each gets a gradient. */
  inputs: { shape: number[]; grad?: boolean; scale?: number; offset?: number }[];
  fn: (...xs: Tensor[]) => Tensor;
  eps?: number;
  atol?: number;
  rtol?: number;
}

/** Returns the largest error over every checked input element (throws with details on a mismatch). */
export function gradcheck(c: GradcheckCase, seed = 1): number {
  return inFloat64(() => {
    const values = c.inputs.map((inp, i) => {
      const v = f64(hostRandom(inp.shape.reduce((a, b) => a * b, 1), seed * 31 + i));
      for (let j = 0; j < v.length; j++) v[j] = v[j] * (inp.scale ?? 1) + (inp.offset ?? 0);
      return v;
    });
    const make = (vals: Float64Array[]) => vals.map((v, i) => fromArray(v as unknown as Float32Array, c.inputs[i].shape));
    const xs = make(values.map((w) => w.slice()));
    xs.forEach((x, i) => x.requiresGrad_(c.inputs[i].grad ?? true));
    const out = c.fn(...xs);
    const proj = fromArray(f64(hostRandom(out.size, seed + 1000)) as unknown as Float32Array, out.shape);
    const objective = (o: Tensor) => sumAll(mul(o, proj));
    objective(out).backward();
    const eps = c.eps ?? 1e-6;
    let worst = 0;
    values.forEach((v, i) => {
      if (!(c.inputs[i].grad ?? true)) {
        if (xs[i].grad !== null) throw new Error(`gradcheck: input ${i} needs no gradient but got one`);
        return;
      }
      const analytic = xs[i].grad!.toFloat32Array();
      // Fresh copies for every evaluation: the tensors made from them never share storage with `values`.
      const grad = numericGrad(v, () => tidy(() => objective(c.fn(...make(values.map((w) => w.slice())))).item()), eps);
      for (let j = 0; j < v.length; j++) {
        const numeric = grad[j];
        const err = Math.abs(numeric - analytic[j]);
        const tol = (c.atol ?? 1e-6) + (c.rtol ?? 1e-5) * Math.abs(numeric);
        if (!(err <= tol)) throw new Error(`gradcheck: input ${i} element ${j}: analytic ${analytic[j]} vs numeric ${numeric} (error ${err})`);
        worst = Math.max(worst, err);
      }
    });
    return worst;
  });
}
