/**
 * Finite-difference gradient checks of whole autograd paths in float64: the js backend switched to
 * Float64Array storage, central differences of a random projection of the output, compared with what
 * backward() puts in each input's .grad.
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
    const xs = make(values);
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
      for (let j = 0; j < v.length; j++) {
        const at = (delta: number) => {
          const moved = values.map((w) => w.slice());
          moved[i][j] += delta;
          return tidy(() => objective(c.fn(...make(moved))).item());
        };
        const numeric = (at(eps) - at(-eps)) / (2 * eps);
        const err = Math.abs(numeric - analytic[j]);
        const tol = (c.atol ?? 1e-6) + (c.rtol ?? 1e-5) * Math.abs(numeric);
        if (!(err <= tol)) throw new Error(`gradcheck: input ${i} element ${j}: analytic ${analytic[j]} vs numeric ${numeric} (error ${err})`);
        worst = Math.max(worst, err);
      }
    });
    return worst;
  });
}
