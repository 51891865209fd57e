import { add, div, fromArray, mul, setBackend, sub, type Tensor } from '../../lib';
import { backendsUnderTest, ODD_SIZES, oracle, randomTensor } from '../helpers/backends';

const ops = { add, sub, mul, div } as const;
/** Each op as float32 arithmetic on one element pair, independent of every backend. */
const scalarOps: Record<keyof typeof ops, (x: number, y: number) => number> = {
  add: (x, y) => Math.fround(x + y), sub: (x, y) => Math.fround(x - y), mul: (x, y) => Math.fround(x * y), div: (x, y) => Math.fround(x / y),
};

describe.each(backendsUnderTest())('binary ops on %s', (name) => {
  beforeAll(() => setBackend(name));

  it('computes known values, with a broadcast row and with scalars', () => {
    const a = fromArray([[1, 2, 3], [4, 5, 6]]);
    const row = fromArray([10, 20, 30]);
    expect(add(a, row).toArray()).toEqual([[11, 22, 33], [14, 25, 36]]);
    expect(sub(a, a).toArray()).toEqual([[0, 0, 0], [0, 0, 0]]);
    expect(mul(a, 2).toArray()).toEqual([[2, 4, 6], [8, 10, 12]]);
    expect(div(row, 10).toArray()).toEqual([1, 2, 3]);
    expect(add(a, 1).toArray()).toEqual([[2, 3, 4], [5, 6, 7]]);
  });

  it.each(ODD_SIZES)('matches the oracle for rows x %i, same shape and broadcast', (cols) => {
    for (const [opName, op] of Object.entries(ops)) {
      const a = randomTensor([3, cols], cols);
      const b = randomTensor([3, cols], cols + 1);
      const row = randomTensor([1, cols], cols + 2);
      const f = (x: Tensor, y: Tensor) => op(x, y);
      const same = op(a, b), broadcast = op(a, row);
      expect(same).toAllClose(oracle([a, b], f), { rtol: 1e-6 });
      expect(broadcast).toAllClose(oracle([a, row], f), { rtol: 1e-6 });
      // The arithmetic named opName on the host, element by element: the oracle runs the same op on js.
      const av = a.toFloat32Array(), bv = b.toFloat32Array(), rv = row.toFloat32Array();
      const scalar = scalarOps[opName as keyof typeof ops];
      expect(same).toAllClose(av.map((x, i) => scalar(x, bv[i])), { rtol: 1e-6 });
      expect(broadcast).toAllClose(av.map((x, i) => scalar(x, rv[i % cols])), { rtol: 1e-6 });
    }
  });

  it('works on non-contiguous views', () => {
    const a = randomTensor([17, 3], 5);
    const b = randomTensor([3, 17], 6);
    expect(mul(a.T, b)).toAllClose(oracle([a, b], (x, y) => mul(x.T, y)), { rtol: 1e-6 });
  });

  it('rejects shapes that do not broadcast, naming both', () => {
    expect(() => add(fromArray([[1, 2, 3]]), fromArray([1, 2]))).toThrow(/add: shapes \[1, 3\] and \[2\] do not broadcast/);
  });
});
