/**
 * PHMLinear: a parameterized-hypercomplex-multiplication layer (Zhang et al. 2021) as Compacter uses it:
 *   H = sum_{i<n} A_i (x) (s_i t_i)   [in, out],   y = x H + b
 * with A = `rule` [n, n, n] (the shared "slow" factors, owned by the model's `compacter_shared`, only
 * referenced here), s = `W_left` [n, in/n, r] and t = `W_right` [n, r, out/n] (the "fast" low-rank
 * factors) and b [out]. Names and layouts follow the Compacter and adapters-library code. H is rebuilt
 * every forward from autograd ops (matmul, kron, add), so gradients reach s, t, b and the shared A.
 */
import { Module, parameter } from '../../../nn/module';
import { noGrad } from '../../../tensor/autograd';
import { rand, randn, zeros } from '../../../tensor/creation';
import { kron } from '../../../tensor/kron_op';
import { add, linear, matmul } from '../../../tensor/ops';
import type { Tensor } from '../../../tensor/tensor';
import type { HypercomplexInit } from './config';

export interface PhmInit {
  factors: HypercomplexInit;
  initRange: number;
  /** Start t (W_right) at zero: H = 0, the up-projection of an adapter that begins as the identity. */
  zeroRight?: boolean;
}

export class PHMLinear extends Module {
  readonly W_left: Tensor;
  readonly W_right: Tensor;
  readonly b: Tensor;
  readonly phmDim: number;

  constructor(readonly inFeatures: number, readonly outFeatures: number, readonly rule: Tensor, readonly rank: number, init: PhmInit) {
    super();
    const n = rule.shape[0];
    if (rule.rank !== 3 || rule.shape[1] !== n || rule.shape[2] !== n)
      throw new RangeError(`PHMLinear: the shared rule must be [n, n, n], got [${rule.shape.join(', ')}]`);
    if (inFeatures % n !== 0 || outFeatures % n !== 0)
      throw new RangeError(`PHMLinear: in (${inFeatures}) and out (${outFeatures}) features must be multiples of phmDim ${n}`);
    this.phmDim = n;
    const [p, q] = [inFeatures / n, outFeatures / n];
    this.W_left = this.registerParameter('W_left', parameter(initFactor([n, p, rank], init)))!;
    this.W_right = this.registerParameter('W_right', parameter(init.zeroRight ? zeros([n, rank, q]) : initFactor([n, rank, q], init)))!;
    this.b = this.registerParameter('b', parameter(zeros([outFeatures])))!;
  }

  /** H = sum_i A_i (x) (s_i t_i): [in, out]. */
  weight(): Tensor {
    const n = this.phmDim, r = this.rank;
    const [p, q] = [this.inFeatures / n, this.outFeatures / n];
    let h: Tensor | null = null;
    for (let i = 0; i < n; i++) {
      const a = this.rule.slice(0, i, i + 1).reshape([n, n]);
      const s = this.W_left.slice(0, i, i + 1).reshape([p, r]);
      const t = this.W_right.slice(0, i, i + 1).reshape([r, q]);
      const term = kron(a, matmul(s, t));
      h = h === null ? term : add(h, term);
    }
    return h!;
  }

  forward(x: Tensor): Tensor {
    return linear(x, this.weight().T, this.b);
  }
}

/**
 * The fast factors' init, one [rows, cols] matrix per i as the reference code does: Xavier uniform
 * (bound sqrt(6 / (rows + cols))), Xavier normal (std sqrt(2 / (rows + cols))), or N(0, initRange).
 */
function initFactor(shape: [number, number, number], init: PhmInit): Tensor {
  const fan = shape[1] + shape[2];
  return noGrad(() => {
    if (init.factors === 'glorot-uniform') {
      const bound = Math.sqrt(6 / fan);
      return rand(shape, { low: -bound, high: bound });
    }
    if (init.factors === 'glorot-normal') return randn(shape, { std: Math.sqrt(2 / fan) });
    return randn(shape, { std: init.initRange });
  });
}
