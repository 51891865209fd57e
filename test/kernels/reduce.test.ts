import { fromArray, max, mean, setBackend, softmax, sum, type Tensor } from '../../lib';
import { backendsUnderTest, ODD_SIZES, oracle, randomTensor } from '../helpers/backends';

describe.each(backendsUnderTest())('row reductions and softmax on %s', (name) => {
  beforeAll(() => setBackend(name));

  it('computes known values', () => {
    const a = fromArray([[1, 2, 3], [-4, 8, 0]]);
    expect(sum(a).toArray()).toEqual([6, 4]);
    expect(max(a).toArray()).toEqual([3, 8]);
    expect(mean(a, -1, true).toArray()).toEqual([[2], [4 / 3].map(Math.fround)]);
    expect(softmax(fromArray([[0, Math.log(3)], [1000, 1000]]))).toAllClose([0.25, 0.75, 0.5, 0.5], { atol: 1e-7 });
  });

  it('propagates NaN through max, and handles empty rows', () => {
    expect(Number.isNaN((max(fromArray([1, NaN, 3])).item()))).toBe(true);
    const empty = fromArray(new Float32Array(0), [2, 0]);
    expect(sum(empty).toArray()).toEqual([0, 0]);
    expect(max(empty).toArray()).toEqual([-Infinity, -Infinity]);
  });

  it.each(ODD_SIZES)('sum, max, mean and softmax match the oracle for rows of %i', (cols) => {
    for (const rows of [1, 3, 17]) {
      const a = randomTensor([rows, cols], rows * cols);
      for (const op of [(x: Tensor) => sum(x), (x: Tensor) => max(x), (x: Tensor) => mean(x), (x: Tensor) => softmax(x)])
        expect(op(a)).toAllClose(oracle([a], op), { atol: 1e-6, rtol: 1e-5 });
    }
  });

  it('rejects a reduction over another dimension', () => {
    expect(() => sum(fromArray([[1, 2]]), 0)).toThrow(/sum: only the last dimension is supported/);
  });
});
