import { fromArray, setBackend, type Tensor } from '../../lib';
import { launchBitfitBackward } from '../../lib/ops/bitfit/launch';
import { backendsUnderTest, backendsWithKernels, randomTensor } from '../helpers/backends';
import { oracleMany } from '../helpers/oracle';

const peftBackends = backendsWithKernels('bitfitBackward');

describe.each(peftBackends)('BitFit bias gradient on %s', (name) => {
  beforeAll(() => setBackend(name));

  it.each([[1, 1, 1], [3, 17, 1000], [1000, 3, 17], [17, 1000, 3]])('T=%i K=%i N=%i matches the oracle', (T, K, N) => {
    const dy = randomTensor([T, N], 1), w = randomTensor([N, K], 2);
    const run = ([dy_, w_]: Tensor[]) => { const g = launchBitfitBackward(dy_, w_); return [g.dx!, g.dbias]; };
    const expected = oracleMany([dy, w], run);
    run([dy, w]).forEach((t, i) => expect(t).toAllClose(expected[i], { atol: 2e-6 * Math.sqrt(Math.max(N, T)), rtol: 1e-4 }));
  });

  it('sums columns of dy in a hand-checked case and skips dx when asked', () => {
    const g = launchBitfitBackward(fromArray([[1, 2], [3, 4]]), fromArray([[1, 0, 1], [0, 1, 1]]), { inputGrad: false });
    expect(g.dbias.toArray()).toEqual([4, 6]);
    expect(g.dx).toBeNull();
  });
});
