/** kron: values against a plain-loop reference on every backend, float64 finite differences, bad input. */
import { add, fromArray, kron, matmul, setBackend, type Tensor } from '../../lib';
import { backendsUnderTest, hostRandom } from '../helpers/backends';
import { gradcheck } from '../helpers/gradcheck';

/** out[i*r + k, j*s + l] = a[i, j] b[k, l], written as the definition. */
function kronReference(a: Float32Array, [p, q]: number[], b: Float32Array, [r, s]: number[]): Float32Array {
  const out = new Float32Array(p * r * q * s);
  for (let i = 0; i < p; i++) for (let j = 0; j < q; j++) for (let k = 0; k < r; k++) for (let l = 0; l < s; l++)
    out[(i * r + k) * (q * s) + j * s + l] = a[i * q + j] * b[k * s + l];
  return out;
}

describe.each(backendsUnderTest())('kron on %s', (name) => {
  beforeAll(() => setBackend(name));

  it.each([
    [[1, 1], [1, 1]], [[2, 3], [4, 1]], [[3, 1], [1, 17]], [[4, 4], [8, 2]], [[1, 3], [17, 5]],
  ])('a %j (x) b %j matches the definition', (sa, sb) => {
    const av = hostRandom(sa[0] * sa[1], 7), bv = hostRandom(sb[0] * sb[1], 8);
    const out = kron(fromArray(av, sa), fromArray(bv, sb));
    expect(out.shape).toEqual([sa[0] * sb[0], sa[1] * sb[1]]);
    expect(out).toAllClose(kronReference(av, sa, bv, sb), { atol: 0, rtol: 0 });
  });

  it('takes strided views (a transposed matrix, a slice of a 3-D tensor)', () => {
    const av = hostRandom(12, 3), bv = hostRandom(2 * 3 * 2, 4);
    const a = fromArray(av, [4, 3]).T; // [3, 4] non-contiguous
    const b = fromArray(bv, [2, 3, 2]).slice(0, 1, 2).reshape([3, 2]);
    const aT = new Float32Array(12);
    for (let i = 0; i < 3; i++) for (let j = 0; j < 4; j++) aT[i * 4 + j] = av[j * 3 + i];
    expect(kron(a, b)).toAllClose(kronReference(aT, [3, 4], bv.subarray(6, 12), [3, 2]), { atol: 0, rtol: 0 });
  });

  it('names itself, the expected and the actual shapes on bad input', () => {
    expect(() => kron(fromArray(hostRandom(8, 1), [2, 2, 2]), fromArray(hostRandom(4, 1), [2, 2])))
      .toThrow(/kron: expected two matrices a \[p, q\] and b \[r, s\], got a \[2, 2, 2\] and b \[2, 2\]/);
  });
});

describe('kron against float64 finite differences', () => {
  const cases: [string, Parameters<typeof gradcheck>[0]][] = [
    ['both factors', { inputs: [{ shape: [2, 3] }, { shape: [3, 2] }], fn: (a, b) => kron(a, b) }],
    ['a frozen first factor', { inputs: [{ shape: [3, 1], grad: false }, { shape: [2, 4] }], fn: (a, b) => kron(a, b) }],
    ['a frozen second factor', { inputs: [{ shape: [1, 3] }, { shape: [4, 1], grad: false }], fn: (a, b) => kron(a, b) }],
    // A PHM weight: sum_i A_i (x) (s_i t_i), with A shared by both terms' slices.
    ['a Kronecker sum of low-rank factors (Compacter\'s PHM weight)', {
      inputs: [{ shape: [2, 2, 2] }, { shape: [2, 3, 1] }, { shape: [2, 1, 2] }],
      fn: (rule: Tensor, s: Tensor, t: Tensor) => {
        const term = (i: number) => kron(rule.slice(0, i, i + 1).reshape([2, 2]), matmul(s.slice(0, i, i + 1).reshape([3, 1]), t.slice(0, i, i + 1).reshape([1, 2])));
        return add(term(0), term(1));
      },
    }],
  ];
  it.each(cases)('%s', (_, c) => {
    expect(gradcheck(c)).toBeLessThan(1e-5);
  });
});
