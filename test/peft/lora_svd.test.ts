/** The host SVD (one-sided Jacobi) used by add_weighted_adapter's 'svd': known decompositions and properties. */
import { svd } from '../../lib';

function reconstruct(d: ReturnType<typeof svd>, m: number, n: number): Float64Array {
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) for (let r = 0; r < d.k; r++) out[i * n + j] += d.u[i * d.k + r] * d.s[r] * d.vt[r * n + j];
  return out;
}

function gram(a: Float64Array, rows: number, cols: number, byColumns: boolean): number[][] {
  const k = byColumns ? cols : rows;
  const at = (v: number, i: number) => (byColumns ? a[i * cols + v] : a[v * cols + i]);
  const len = byColumns ? rows : cols;
  return Array.from({ length: k }, (_, p) => Array.from({ length: k }, (_, q) => {
    let s = 0;
    for (let i = 0; i < len; i++) s += at(p, i) * at(q, i);
    return s;
  }));
}

function expectOrthonormal(g: number[][]): void {
  g.forEach((row, p) => row.forEach((v, q) => expect(Math.abs(v - (p === q ? 1 : 0))).toBeLessThan(1e-12)));
}

function lcg(seed: number) {
  let s = seed;
  return () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
}

describe('svd', () => {
  it('[[3, 2, 2], [2, 3, -2]] has singular values 5 and 3 (the textbook example)', () => {
    const a = [3, 2, 2, 2, 3, -2];
    const d = svd(a, 2, 3);
    expect(d.k).toBe(2);
    expect([...d.s]).toAllClose([5, 3], { atol: 1e-13, rtol: 0 });
    // v1 = (1, 1, 0)/sqrt 2, v2 = (1, -1, 4)/sqrt 18, up to sign
    const v1 = [...d.vt.subarray(0, 3)].map((x) => x * Math.sign(d.vt[0]));
    expect(v1).toAllClose([Math.SQRT1_2, Math.SQRT1_2, 0], { atol: 1e-13, rtol: 0 });
    const v2 = [...d.vt.subarray(3, 6)].map((x) => x * Math.sign(d.vt[3]));
    expect(v2).toAllClose([1 / Math.sqrt(18), -1 / Math.sqrt(18), 4 / Math.sqrt(18)], { atol: 1e-13, rtol: 0 });
    expect([...reconstruct(d, 2, 3)]).toAllClose(a, { atol: 1e-13, rtol: 0 });
  });

  it('a diagonal with a negative entry: |entries|, sorted', () => {
    const d = svd([1, 0, 0, 0, -4, 0, 0, 0, 2], 3, 3);
    expect([...d.s]).toAllClose([4, 2, 1], { atol: 1e-15, rtol: 0 });
    expect([...reconstruct(d, 3, 3)]).toAllClose([1, 0, 0, 0, -4, 0, 0, 0, 2], { atol: 1e-15, rtol: 0 });
  });

  it('U diag(S) V^T built from known rotations comes back (tall, 5 x 3)', () => {
    // U: the first three columns of a 5x5 Householder reflector; V: a 3x3 rotation; S = (7, 2, 0.5)
    const h = [1, -2, 0, 1, 3];
    const hh = h.reduce((s, v) => s + v * v, 0);
    const H = h.map((hi, i) => h.map((hj, j) => (i === j ? 1 : 0) - (2 * hi * hj) / hh));
    const c = Math.cos(0.7), s = Math.sin(0.7);
    const V = [[c, -s, 0], [s, c, 0], [0, 0, 1]];
    const S = [7, 2, 0.5];
    const a = new Float64Array(15);
    for (let i = 0; i < 5; i++) for (let j = 0; j < 3; j++) for (let r = 0; r < 3; r++) a[i * 3 + j] += H[i][r] * S[r] * V[j][r];
    const d = svd(a, 5, 3);
    expect([...d.s]).toAllClose(S, { atol: 1e-13, rtol: 0 });
    for (let r = 0; r < 3; r++) {
      const sign = Math.sign(d.vt[r * 3 + 0] * V[0][r] + d.vt[r * 3 + 1] * V[1][r] + d.vt[r * 3 + 2] * V[2][r]);
      expect([0, 1, 2].map((j) => sign * d.vt[r * 3 + j])).toAllClose([V[0][r], V[1][r], V[2][r]], { atol: 1e-12, rtol: 0 });
      expect([0, 1, 2, 3, 4].map((i) => sign * d.u[i * 3 + r])).toAllClose(H.map((row) => row[r]), { atol: 1e-12, rtol: 0 });
    }
    expectOrthonormal(gram(d.u, 5, 3, true));
  });

  it('rank-deficient: zero singular values, U still orthonormal, A = U S V^T', () => {
    // rank 1 (outer product) 4 x 3, and the same transposed (wide)
    const x = [1, 2, -1, 3], y = [2, 0, 1];
    const a = x.flatMap((xi) => y.map((yj) => xi * yj));
    const d = svd(a, 4, 3);
    const sigma = Math.sqrt(x.reduce((s, v) => s + v * v, 0) * y.reduce((s, v) => s + v * v, 0));
    expect([...d.s]).toAllClose([sigma, 0, 0], { atol: 1e-12, rtol: 0 });
    expectOrthonormal(gram(d.u, 4, 3, true));
    expectOrthonormal(gram(d.vt, 3, 3, false));
    expect([...reconstruct(d, 4, 3)]).toAllClose(a, { atol: 1e-12, rtol: 0 });
    const w = svd(y.flatMap((_, j) => x.map((_x, i) => a[i * 3 + j])), 3, 4);
    expect([...w.s]).toAllClose([sigma, 0, 0], { atol: 1e-12, rtol: 0 });
  });

  it('random matrices of odd sizes: orthonormal factors, descending S, exact reconstruction', () => {
    const rnd = lcg(42);
    for (const [m, n] of [[1, 1], [1, 5], [7, 1], [17, 3], [3, 17], [33, 33], [40, 9]]) {
      const a = Float64Array.from({ length: m * n }, rnd);
      const d = svd(a, m, n);
      expect(d.k).toBe(Math.min(m, n));
      for (let r = 1; r < d.k; r++) expect(d.s[r]).toBeLessThanOrEqual(d.s[r - 1]);
      expectOrthonormal(gram(d.u, m, d.k, true));
      expectOrthonormal(gram(d.vt, d.k, n, false));
      expect([...reconstruct(d, m, n)]).toAllClose([...a], { atol: 1e-12, rtol: 0 });
      // the Frobenius norm is the root of the sum of squared singular values
      expect(Math.sqrt(d.s.reduce((s, v) => s + v * v, 0))).toBeCloseTo(Math.sqrt(a.reduce((s, v) => s + v * v, 0)), 12);
    }
  });

  it('bad input is an error naming svd, the expected and the actual', () => {
    expect(() => svd([1, 2, 3], 2, 2)).toThrow(/svd: expected 4 values for a \[2, 2\] matrix, got 3/);
    expect(() => svd([1, 2], 0, 2)).toThrow(/svd: sizes must be positive integers, got \[0, 2\]/);
    expect(() => svd([1, NaN, 0, 1], 2, 2)).toThrow(/svd: element 1 is NaN/);
  });
});
