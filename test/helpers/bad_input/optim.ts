/** The optim kernels in the bad-input harness. */
import type { KernelCase } from './case';

// Each change appears once per field with NaN or an infinity: the harness names a variant by its JSON, where both are null.

export const OPTIM_CASES: KernelCase[] = [
  {
    kernel: 'adamwStep',
    params: (b) => ({ n: 5, param: b(5), grad: b(5), m: b(5), v: b(5), lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, step: 1 }),
    dims: ['n', 'step'],
    bufs: ['param', 'grad', 'm', 'v'],
    ranges: [
      [{ lr: -1e-3 }, 'lr must be >= 0, got -0.001'],
      [{ lr: Infinity }, 'lr must be finite, got Infinity'],
      [{ beta1: NaN }, "argument 'beta1' must not be NaN"],
      [{ beta1: 1 }, 'beta1 must be in [0, 1), got 1'],
      [{ beta2: -0.5 }, 'beta2 must be in [0, 1), got -0.5'],
      [{ eps: -1e-8 }, 'eps must be >= 0, got -1e-8'],
      [{ weightDecay: -Infinity }, 'weightDecay must be finite, got -Infinity'],
      [{ weightDecay: '0' }, "argument 'weightDecay' must be a number, got string"],
      [{ step: 0 }, 'step must be >= 1 (the count after this update), got 0'],
    ],
  },
  {
    kernel: 'sgdStep',
    params: (b) => ({ n: 5, param: b(5), grad: b(5), momentumBuf: b(5), lr: 0.1, momentum: 0.9, dampening: 0, nesterov: false, weightDecay: 0, firstStep: true }),
    dims: ['n'],
    bufs: ['param', 'grad', 'momentumBuf'],
    ranges: [
      [{ lr: -0.1 }, 'lr must be >= 0, got -0.1'],
      [{ momentum: -1 }, 'momentum must be >= 0, got -1'],
      [{ dampening: Infinity }, 'dampening must be finite, got Infinity'],
      [{ weightDecay: -0.25 }, 'weightDecay must be >= 0, got -0.25'],
      [{ nesterov: 'no' }, "argument 'nesterov' must be a boolean, got string"],
      [{ firstStep: null }, "argument 'firstStep' must be a boolean, got null"],
      [{ momentumBuf: null }, 'momentum 0.9 needs a momentumBuf of 5 elements, got null'],
      [{ nesterov: true, dampening: 0.1 }, 'nesterov momentum requires a momentum > 0 and zero dampening, got momentum 0.9, dampening 0.1'],
      [{ nesterov: true, momentum: 0 }, 'nesterov momentum requires a momentum > 0 and zero dampening, got momentum 0, dampening 0'],
    ],
  },
  { kernel: 'sumSquares', params: (b) => ({ x: b(5), n: 5 }), dims: ['n'], bufs: ['x'], ranges: [] },
];
