import { backend, fromArray, matmul, setBackend, type Tensor } from '../../lib';
import { loadAddon } from '../../lib/backend/native/addon';
import { backendsUnderTest, cpuPaths, hostRandom, ODD_SIZES, oracle, randomTensor, withCpuPath } from '../helpers/backends';

const shapes: [number, number, number][] = [
  [1, 1, 1], [3, 17, 1], [17, 3, 1000], [1, 1000, 3], [1000, 1, 17], [17, 17, 17], [33, 65, 130], [129, 40, 300],
  // Few rows, many columns, several k blocks: the narrow schedule (columns split, B packed per panel).
  [5, 70, 900],
];

describe.each(backendsUnderTest())('gemm on %s', (name) => {
  beforeAll(() => setBackend(name));

  it('multiplies a known 2x3 by 3x2', () => {
    const a = fromArray([[1, 2, 3], [4, 5, 6]]);
    const b = fromArray([[7, 8], [9, 10], [11, 12]]);
    expect(matmul(a, b).toArray()).toEqual([[58, 64], [139, 154]]);
  });

  it.each(shapes)('matches the js oracle for m=%i n=%i k=%i in all four transpose layouts', (m, n, k) => {
    for (const [ta, tb] of [[false, false], [false, true], [true, false], [true, true]]) {
      // A transposed operand is a .T view of a stored [k, m] (or [n, k]) matrix: no copy is made.
      const aStored = randomTensor(ta ? [k, m] : [m, k], m * 7 + k);
      const bStored = randomTensor(tb ? [n, k] : [k, n], n * 13 + k);
      const bias = randomTensor([n], n);
      const run = (x: Tensor, y: Tensor, z: Tensor) => matmul(ta ? x.T : x, tb ? y.T : y, { bias: z, alpha: 0.5 });
      const expected = oracle([aStored, bStored, bias], run);
      expect(run(aStored, bStored, bias)).toAllClose(expected, { atol: 1e-5 * Math.sqrt(k), rtol: 1e-4 });
    }
  });

  it('honours alpha, beta and leading dimensions larger than the row', () => {
    const b = backend(name);
    const [m, n, k, lda, ldb, ldc] = [5, 7, 9, 12, 10, 11];
    const data = (len: number, seed: number) => fromArray(hostRandom(len, seed), [len]);
    const A = data(m * lda, 1), B = data(k * ldb, 2), C = data(m * ldc, 3);
    const expected = new Float32Array(C.toFloat32Array());
    const a = A.toFloat32Array(), bb = B.toFloat32Array();
    for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += a[i * lda + p] * bb[p * ldb + j];
      expected[i * ldc + j] = 2 * s - 0.5 * expected[i * ldc + j];
    }
    b.gemm({ transA: false, transB: false, m, n, k, alpha: 2, a: A.buf(), lda, b: B.buf(), ldb, beta: -0.5, c: C.buf(), ldc });
    expect(C).toAllClose(expected, { atol: 1e-5 });
  });

  it('with beta = 0 ignores NaN already in C, and with k = 0 writes bias only', () => {
    const b = backend(name);
    const C = fromArray(new Float32Array(6).fill(NaN), [6]);
    const A = fromArray([1, 2, 3, 4], [4]), B = fromArray([1, 1, 1, 1, 1, 1], [6]);
    b.gemm({ transA: false, transB: false, m: 2, n: 3, k: 2, alpha: 1, a: A.buf(), lda: 2, b: B.buf(), ldb: 3, beta: 0, c: C.buf(), ldc: 3 });
    expect(C.toArray()).toEqual([3, 3, 3, 7, 7, 7]);
    const bias = fromArray([1, 2, 3]);
    b.gemm({ transA: false, transB: false, m: 2, n: 3, k: 0, alpha: 1, a: A.buf(), lda: 1, b: B.buf(), ldb: 3, beta: 0, c: C.buf(), ldc: 3, bias: bias.buf() });
    expect(C.toArray()).toEqual([1, 2, 3, 1, 2, 3]);
  });

  // x W^T with at most 8 output columns takes the skinny kernel (dot products along k) on AVX2.
  it.each([[1, 1, 1], [3, 8, 7], [17, 5, 9], [1000, 3, 17], [33, 8, 1000], [2, 2, 8]])(
    'skinny NT m=%i n=%i k=%i: alpha, beta, bias and leading dimensions match the oracle', (m, n, k) => {
      const b = backend(name);
      const [lda, ldb, ldc] = [k + 3, k + 1, n + 2];
      const A = randomTensor([m * lda], m + k), B = randomTensor([n * ldb], n + k), bias = randomTensor([n], n);
      const C = randomTensor([m * ldc], 5);
      const a = A.toFloat32Array(), bb = B.toFloat32Array(), bi = bias.toFloat32Array();
      const expected = new Float32Array(C.toFloat32Array());
      for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
        let s = 0;
        for (let p = 0; p < k; p++) s += a[i * lda + p] * bb[j * ldb + p];
        expected[i * ldc + j] = 1.5 * s + 0.25 * expected[i * ldc + j] + bi[j];
      }
      b.gemm({ transA: false, transB: true, m, n, k, alpha: 1.5, a: A.buf(), lda, b: B.buf(), ldb, beta: 0.25, c: C.buf(), ldc, bias: bias.buf() });
      expect(C).toAllClose(expected, { atol: 1e-5 * Math.sqrt(k), rtol: 1e-4 });
      // beta = 0: whatever C held (NaN here) is not read.
      const D = fromArray(new Float32Array(m * ldc).fill(NaN), [m * ldc]);
      b.gemm({ transA: false, transB: true, m, n, k, alpha: 1, a: A.buf(), lda, b: B.buf(), ldb, beta: 0, c: D.buf(), ldc });
      const d = D.toFloat32Array();
      for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) expect(Number.isFinite(d[i * ldc + j])).toBe(true);
    });

  it('rejects mismatched shapes naming both', () => {
    expect(() => matmul(fromArray([[1, 2]]), fromArray([[1, 2]]))).toThrow(/matmul: expected a \[M, K\] and b \[K, N\], got a \[1, 2\] and b \[1, 2\]/);
  });
});

const paths = cpuPaths();
if (paths.length === 0) console.log('skipping the CPU-path gemm checks: the native addon is not loaded');

(paths.length > 0 ? describe : describe.skip)('native gemm on every CPU path', () => {
  if (paths.length > 0 && !paths.includes('avx512')) console.log(`the avx512 micro-kernel is not exercised here: this CPU's best path is '${paths[paths.length - 1]}'`);
  beforeAll(() => setBackend('native'));

  it.each(paths)('the %s micro-kernel matches the oracle on odd and blocked sizes', (path) => {
    for (const [m, n, k] of [...ODD_SIZES.map((s) => [s, 19, s] as [number, number, number]), [300, 530, 600] as [number, number, number]]) {
      const a = randomTensor([m, k], m + k), b = randomTensor([n, k], n * 3 + k);
      const expected = oracle([a, b], (x, y) => matmul(x, y.T));
      const got = withCpuPath(path, () => matmul(a, b.T));
      expect(got).toAllClose(expected, { atol: 1e-5 * Math.sqrt(k), rtol: 1e-4 });
    }
  });
});

describe('the native thread pool', () => {
  const hasNative = backendsUnderTest().includes('native');
  (hasNative ? it : it.skip)('gives the same product with 1, 3 and the default number of threads, across resizes', () => {
    setBackend('native');
    const addon = loadAddon()!;
    const threads = addon.info().threads;
    const a = randomTensor([130, 70], 1), b = randomTensor([90, 70], 2);
    const results = [1, 3, threads].map((n) => {
      addon.setNumThreads(n);
      return Array.from({ length: 20 }, () => matmul(a, b.T).toFloat32Array())[19];
    });
    addon.setNumThreads(threads);
    expect(results[1]).toAllClose(results[0], { atol: 0 });
    expect(results[2]).toAllClose(results[0], { atol: 0 });
  });
});
