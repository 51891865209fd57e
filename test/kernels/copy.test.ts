import { arange, fill_, full, ones, setBackend, zeros } from '../../lib';
import { backendsUnderTest, oracle, randomTensor } from '../helpers/backends';

describe.each(backendsUnderTest())('strided copy and fill on %s', (name) => {
  beforeAll(() => setBackend(name));

  it('makes transposes, permutes and slices contiguous', () => {
    const a = arange(24).reshape([2, 3, 4]);
    expect(a.transpose(0, 2).contiguous().toArray()).toEqual([
      [[0, 12], [4, 16], [8, 20]], [[1, 13], [5, 17], [9, 21]], [[2, 14], [6, 18], [10, 22]], [[3, 15], [7, 19], [11, 23]],
    ]);
    expect(a.slice(2, 1, 3).contiguous().toArray()).toEqual([[[1, 2], [5, 6], [9, 10]], [[13, 14], [17, 18], [21, 22]]]);
    expect(a.permute([1, 0, 2]).slice(0, 2).contiguous().toArray()).toEqual([[[8, 9, 10, 11], [20, 21, 22, 23]]]);
  });

  it.each([[1, 1000], [3, 17], [17, 3], [1000, 1]])('transposes a random [%i, %i] like the oracle', (r, c) => {
    const a = randomTensor([r, c], r + c);
    expect(a.T.contiguous()).toAllClose(oracle([a], (x) => x.T.contiguous()), { atol: 0 });
    expect(a.T.reshape([-1])).toAllClose(oracle([a], (x) => x.T.reshape([-1])), { atol: 0 });
  });

  it('fills', () => {
    expect(full([2, 2], -1.5).toArray()).toEqual([[-1.5, -1.5], [-1.5, -1.5]]);
    expect(zeros([3]).toArray()).toEqual([0, 0, 0]);
    expect(ones([1, 1]).toArray()).toEqual([[1]]);
    expect(fill_(zeros([1000]), 7).toFloat32Array().every((v) => v === 7)).toBe(true);
    expect(full([2], -Infinity).toArray()).toEqual([-Infinity, -Infinity]);
  });
});
