import { fromArray, ones, setBackend, type Tensor } from '../../lib';
import { launchIa3Backward, launchIa3Forward } from '../../lib/ops/ia3/launch';
import { backendsUnderTest, backendsWithKernels, randomTensor } from '../helpers/backends';
import { oracleMany } from '../helpers/oracle';

const peftBackends = backendsWithKernels('ia3Forward', 'ia3Backward');
const shapes: [number, number, number][] = [[1, 1, 1], [3, 17, 1000], [17, 3, 17], [1000, 17, 3], [65, 130, 33]];

describe.each(peftBackends)('(IA)3 on %s', (name) => {
  beforeAll(() => setBackend(name));

  it.each(name === 'js' ? shapes.slice(0, 3) : shapes)('T=%i K=%i N=%i: both modes match the oracle', (T, K, N) => {
    for (const mode of ['output', 'input'] as const) {
      const x = randomTensor([T, K], T), w = randomTensor([N, K], K), bias = randomTensor([N], N);
      const l = randomTensor([mode === 'output' ? N : K], 5), dy = randomTensor([T, N], 6);
      const run = ([x_, w_, b_, l_, dy_]: Tensor[]) => {
        const { y, yPre } = launchIa3Forward(x_, w_, b_, l_, mode);
        const { dx, dl } = launchIa3Backward(x_, w_, l_, mode, dy_, yPre);
        return [y, dx!, dl];
      };
      const expected = oracleMany([x, w, bias, l, dy], run);
      run([x, w, bias, l, dy]).forEach((t, i) => expect(t).toAllClose(expected[i], { atol: 3e-6 * Math.sqrt(Math.max(K, N, T)), rtol: 1e-4 }));
    }
  });

  it('with l = 1 leaves the base output unchanged', () => {
    const x = randomTensor([5, 4], 1), w = randomTensor([3, 4], 2), b = randomTensor([3], 3);
    const out = launchIa3Forward(x, w, b, ones([3]), 'output').y;
    const inp = launchIa3Forward(x, w, b, ones([4]), 'input').y;
    const base = launchIa3Forward(x, w, b, ones([3]), 'output').yPre!;
    expect(out).toAllClose(base, { atol: 0 });
    expect(inp).toAllClose(base, { atol: 1e-6 });
  });

  it('scales a hand-checked case', () => {
    // x = [1, 2], W = [[1, 1], [1, -1]], b = [0, 1], l = [2, 3]: pre = [3, 0] -> output scaling [6, 0]
    const x = fromArray([[1, 2]]), w = fromArray([[1, 1], [1, -1]]), b = fromArray([0, 1]), l = fromArray([2, 3]);
    expect(launchIa3Forward(x, w, b, l, 'output').y.toArray()).toEqual([[6, 0]]);
    // input scaling: x * l = [2, 6] -> [8, -3]
    expect(launchIa3Forward(x, w, b, l, 'input').y.toArray()).toEqual([[8, -3]]);
  });

  it('rejects a scaling vector of the wrong length', () => {
    expect(() => launchIa3Forward(randomTensor([2, 4], 1), randomTensor([3, 4], 2), null, ones([4]), 'output'))
      .toThrow('ia3Forward: l must be [3], got [4]');
  });
});
