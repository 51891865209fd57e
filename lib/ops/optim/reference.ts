/**
 * The reference optimizer updates (the js backend's): torch.optim's single-tensor formulas, one element at a time.
 * Hyperparameters are rounded to float32 once (Math.fround) as ATen does when a float tensor op takes a
 * Python scalar; each stored value rounds to float32 on the store. The native kernel follows the same
 * order of operations, so the two agree to an ulp or so.
 */
import { at } from '../reference_helpers';
import type { OptimKernels } from './kernel';

const f32 = Math.fround;

export const jsOptimKernels: OptimKernels = {
  adamwStep(p) {
    const param = at(p.param), grad = at(p.grad), m = at(p.m), v = at(p.v);
    const decay = f32(1 - p.lr * p.weightDecay);
    const b1 = f32(p.beta1), oneMinusB1 = f32(1 - p.beta1);
    const b2 = f32(p.beta2), oneMinusB2 = f32(1 - p.beta2);
    const stepSize = f32(p.lr / (1 - p.beta1 ** p.step));
    const bc2Sqrt = f32(Math.sqrt(1 - p.beta2 ** p.step));
    const eps = f32(p.eps);
    for (let i = 0; i < p.n; i++) {
      const g = grad[i];
      m[i] = f32(m[i] * b1) + f32(oneMinusB1 * g);
      v[i] = f32(v[i] * b2) + f32(f32(oneMinusB2 * g) * g);
      const denom = f32(f32(f32(Math.sqrt(v[i])) / bc2Sqrt) + eps);
      param[i] = f32(param[i] * decay) - f32(stepSize * f32(m[i] / denom));
    }
  },

  sgdStep(p) {
    const param = at(p.param), grad = at(p.grad), buf = p.momentum !== 0 && p.momentumBuf ? at(p.momentumBuf) : null;
    if (p.momentum !== 0 && buf === null) throw new Error(`sgdStep: momentum ${p.momentum} needs a momentumBuf, got null`);
    const wd = f32(p.weightDecay), mom = f32(p.momentum), oneMinusDamp = f32(1 - p.dampening), lr = f32(p.lr);
    for (let i = 0; i < p.n; i++) {
      let d = f32(grad[i] + f32(wd * param[i]));
      if (buf !== null) {
        buf[i] = p.firstStep ? d : f32(buf[i] * mom) + f32(oneMinusDamp * d);
        d = p.nesterov ? f32(d + f32(mom * buf[i])) : buf[i];
      }
      param[i] = param[i] - f32(lr * d);
    }
  },

  sumSquares(p) {
    const a = at(p.x);
    let s = 0;
    for (let i = 0; i < p.n; i++) s += a[i] * a[i];
    return s;
  },
};
