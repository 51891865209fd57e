/**
 * Finite-difference checks, in float64, of the reference backward passes of the four PEFT kernels:
 * for loss = sum(out * R) with a fixed random R, each analytic gradient must match central differences.
 */
import { bitfitBackward } from '../../lib/ops/bitfit/reference';
import { DEFAULT_GATE } from '../../lib/ops/diff_prune/kernel';
import { diffPruneBackward, diffPruneForward } from '../../lib/ops/diff_prune/reference';
import { ia3Backward, ia3Forward, type Ia3Inputs } from '../../lib/ops/ia3/reference';
import { loraBackward, loraForward, type LoraForwardInputs } from '../../lib/ops/lora/reference';
import type { Arr } from '../../lib/ops/reference_helpers';
import { hostRandom } from '../helpers/backends';
import { expectGradClose, numericGrad } from '../helpers/gradcheck';

const f64 = (n: number, seed: number, scale = 1) => Float64Array.from(hostRandom(n, seed), (v) => v * scale);

function dot(a: Arr, b: Arr): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

describe('LoRA reference gradients', () => {
  it.each([
    [1, 3, 2, 1, 0], [3, 5, 4, 2, 0], [4, 7, 3, 3, 0.3], [2, 17, 5, 4, 0.5],
  ])('T=%i K=%i N=%i r=%i dropout=%f', (T, K, N, r, dropout) => {
    const p: LoraForwardInputs = {
      T, K, N, r, x: f64(T * K, 1), w: f64(N * K, 2), bias: f64(N, 3), a: f64(r * K, 4), b: f64(N * r, 5),
      scale: 2 / r, dropout, seed: 11, rowOffset: 3,
    };
    const R = f64(T * N, 6);
    const loss = () => dot(loraForward(p).y, R);
    const { u } = loraForward(p);
    const grads = loraBackward(p, u, R);
    expectGradClose(grads.dx, numericGrad(p.x, loss), 'dx');
    expectGradClose(grads.da, numericGrad(p.a, loss), 'dA');
    expectGradClose(grads.db, numericGrad(p.b, loss), 'dB');
    expectGradClose(grads.dbias, numericGrad(p.bias!, loss), 'dbias');
  });
});

describe('(IA)3 reference gradients', () => {
  it.each([['output', 3, 4, 5], ['input', 3, 4, 5], ['output', 1, 17, 3], ['input', 2, 3, 17]] as const)('%s scaling T=%i K=%i N=%i', (mode, T, K, N) => {
    const p: Ia3Inputs = { T, K, N, x: f64(T * K, 1), w: f64(N * K, 2), bias: f64(N, 3), l: f64(mode === 'output' ? N : K, 4), mode };
    const R = f64(T * N, 5);
    const loss = () => dot(ia3Forward(p), R);
    const { dx, dl } = ia3Backward(p, R);
    expectGradClose(dx, numericGrad(p.x, loss), 'dx');
    expectGradClose(dl, numericGrad(p.l, loss), 'dl');
  });
});

describe('diff-pruning reference gradients', () => {
  it.each([[false, 17], [true, 17], [true, 1], [false, 100], [true, 1000]])('structured=%s n=%i', (structured, n) => {
    const lambda = 0.3;
    for (const training of [true, false]) {
      const p = {
        n, w: f64(n, 1), delta: f64(n, 2), logAlpha: f64(structured ? 1 : n, 3, 0.8), training, seed: 5, gate: DEFAULT_GATE,
      };
      const R = f64(n, 4);
      const loss = () => { const o = diffPruneForward(p); return dot(o.wOut, R) + lambda * o.penalty; };
      const g = diffPruneBackward(p, R, lambda);
      expectGradClose(g.dDelta, numericGrad(p.delta, loss), 'dDelta');
      expectGradClose(g.dLogAlpha, numericGrad(p.logAlpha, loss), 'dLogAlpha');
    }
  });

  it('closes gates that the stretch pushes below 0 and opens those above 1', () => {
    const p = { n: 2, w: f64(2, 1), delta: Float64Array.of(1, 1), logAlpha: Float64Array.of(-20, 20), training: false, seed: 0, gate: DEFAULT_GATE };
    expect(Array.from(diffPruneForward(p).z)).toEqual([0, 1]);
  });
});

describe('BitFit reference gradients', () => {
  it('gives dx = dy W and db = column sums of dy', () => {
    const [T, K, N] = [3, 5, 4];
    const x = f64(T * K, 1), w = f64(N * K, 2), bias = f64(N, 3), R = f64(T * N, 4);
    const p: Ia3Inputs = { T, K, N, x, w, bias, l: new Float64Array(N).fill(1), mode: 'output' };
    const loss = () => dot(ia3Forward(p), R);  // with l = 1 this is the plain linear layer
    const g = bitfitBackward(T, K, N, w, R);
    expectGradClose(g.dx, numericGrad(x, loss), 'dx');
    expectGradClose(g.dbias, numericGrad(bias, loss), 'dbias');
  });
});
