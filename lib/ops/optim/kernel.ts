/**
 * The fused optimizer updates: what every backend implements and the argument checks (see
 * lib/backend/checks.ts), the same for every backend, with the messages of
 * csrc/binding/optim_binding.cc (which keeps them for callers that reach the addon directly):
 * hyperparameters as torch.optim's constructors check them.
 */
import type { ArgChecks, KernelChecks } from '../../backend/checks';
import type { Buf } from '../../backend/types';

/** Fused optimizer updates over one flat parameter (PyTorch's semantics exactly). */
export interface OptimKernels {
  /**
   * AdamW (decoupled weight decay): param *= 1 - lr * weightDecay; m = b1 m + (1 - b1) g;
   * v = b2 v + (1 - b2) g^2; param -= lr * (m / (1 - b1^step)) / (sqrt(v / (1 - b2^step)) + eps).
   */
  adamwStep(p: {
    n: number; param: Buf; grad: Buf; m: Buf; v: Buf; lr: number; beta1: number; beta2: number; eps: number;
    weightDecay: number; step: number;
  }): void;
  /** SGD as torch.optim.SGD: weight decay added to g, momentum buffer (first step: buf = g), nesterov. */
  sgdStep(p: {
    n: number; param: Buf; grad: Buf; momentumBuf: Buf | null; lr: number; momentum: number; dampening: number;
    nesterov: boolean; weightDecay: number; firstStep: boolean;
  }): void;
  /** Sum of squares of a buffer (for global-norm clipping), accumulated in double precision. */
  sumSquares(p: { x: Buf; n: number }): number;
}

function finite(c: ArgChecks, name: string, v: unknown): number {
  const x = c.number(name, v);
  if (!Number.isFinite(x)) c.fail(`${name} must be finite, got ${x}`);
  return x;
}

function nonNegative(c: ArgChecks, name: string, v: unknown): number {
  const x = finite(c, name, v);
  if (x < 0) c.fail(`${name} must be >= 0, got ${x}`);
  return x;
}

function unitInterval(c: ArgChecks, name: string, v: unknown): number {
  const x = finite(c, name, v);
  if (!(x >= 0 && x < 1)) c.fail(`${name} must be in [0, 1), got ${x}`);
  return x;
}

export const optimChecks: KernelChecks<OptimKernels> = {
  adamwStep(p, c) {
    const n = c.dim('n', p.n);
    nonNegative(c, 'lr', p.lr);
    unitInterval(c, 'beta1', p.beta1);
    unitInterval(c, 'beta2', p.beta2);
    nonNegative(c, 'eps', p.eps);
    nonNegative(c, 'weightDecay', p.weightDecay);
    if (c.dim('step', p.step) < 1) c.fail('step must be >= 1 (the count after this update), got 0');
    c.buf('param', p.param, n);
    c.buf('grad', p.grad, n);
    c.buf('m', p.m, n);
    c.buf('v', p.v, n);
  },

  sgdStep(p, c) {
    const n = c.dim('n', p.n);
    nonNegative(c, 'lr', p.lr);
    const momentum = nonNegative(c, 'momentum', p.momentum);
    const dampening = finite(c, 'dampening', p.dampening);
    const nesterov = c.boolean('nesterov', p.nesterov);
    nonNegative(c, 'weightDecay', p.weightDecay);
    c.boolean('firstStep', p.firstStep);
    if (nesterov && (momentum <= 0 || dampening !== 0)) {
      c.fail(`nesterov momentum requires a momentum > 0 and zero dampening, got momentum ${momentum}, dampening ${dampening}`);
    }
    c.buf('param', p.param, n);
    c.buf('grad', p.grad, n);
    // Without momentum a buffer is allowed but unused (torch keeps none); with it, one is required.
    const buf = c.optBuf('momentumBuf', p.momentumBuf, n);
    if (momentum !== 0 && buf === null) c.failType(`momentum ${momentum} needs a momentumBuf of ${n} elements, got null`);
  },

  sumSquares(p, c) {
    c.buf('x', p.x, c.dim('n', p.n));
  },
};
