/**
 * A small host-side singular value decomposition (one-sided Jacobi, Hestenes' method) on Float64Array
 * matrices, for add_weighted_adapter's 'svd' combination. Plain and exact to float64 rounding; its cost
 * is a few sweeps of O(m n^2), fine for the sizes of an adapter's weight matrices in tests and small models.
 */

export interface Svd {
  /** [m, k] row-major, orthonormal columns. */
  u: Float64Array;
  /** [k], descending, non-negative. */
  s: Float64Array;
  /** [k, n] row-major, orthonormal rows (V^T). */
  vt: Float64Array;
  /** k = min(m, n). */
  k: number;
}

/** The thin SVD A = U diag(S) V^T of a row-major [m, n] matrix. */
export function svd(a: ArrayLike<number>, m: number, n: number, opts: { maxSweeps?: number } = {}): Svd {
  if (!Number.isInteger(m) || !Number.isInteger(n) || m < 1 || n < 1) throw new RangeError(`svd: sizes must be positive integers, got [${m}, ${n}]`);
  if (a.length !== m * n) throw new RangeError(`svd: expected ${m * n} values for a [${m}, ${n}] matrix, got ${a.length}`);
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i])) throw new RangeError(`svd: element ${i} is ${a[i]}; the matrix must be finite`);
  if (m < n) {
    // A^T = U' S V'^T, so A = V' S U'^T.
    const t = svdTall(transpose(a, m, n), n, m, opts.maxSweeps ?? 60);
    return { u: transpose(t.vt, t.k, m), s: t.s, vt: transpose(t.u, n, t.k), k: t.k };
  }
  return svdTall(Float64Array.from(a), m, n, opts.maxSweeps ?? 60);
}

function transpose(a: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const t = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) t[j * rows + i] = a[i * cols + j];
  return t;
}

/** m >= n: rotate pairs of columns of A until all are orthogonal; their norms are the singular values. */
function svdTall(a: Float64Array, m: number, n: number, maxSweeps: number): Svd {
  const cols = Array.from({ length: n }, (_, j) => Float64Array.from({ length: m }, (_, i) => a[i * n + j]));
  const v = Array.from({ length: n }, (_, j) => { const e = new Float64Array(n); e[j] = 1; return e; });
  const eps = 1e-15;
  for (let sweep = 0; sweep < maxSweeps; sweep++) {
    let rotated = false;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const cp = cols[p], cq = cols[q];
        let alpha = 0, beta = 0, gamma = 0;
        for (let i = 0; i < m; i++) { alpha += cp[i] * cp[i]; beta += cq[i] * cq[i]; gamma += cp[i] * cq[i]; }
        if (gamma === 0 || Math.abs(gamma) <= eps * Math.sqrt(alpha * beta)) continue;
        rotated = true;
        const zeta = (beta - alpha) / (2 * gamma);
        const t = Math.sign(zeta || 1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
        const c = 1 / Math.sqrt(1 + t * t), s = c * t;
        rotate(cp, cq, c, s);
        rotate(v[p], v[q], c, s);
      }
    }
    if (!rotated) break;
  }
  const sigma = cols.map(norm2);
  const order = sigma.map((_, j) => j).sort((x, y) => sigma[y] - sigma[x]);
  const k = n;
  const u = new Float64Array(m * k), s = new Float64Array(k), vt = new Float64Array(k * n);
  const tiny = (sigma[order[0]] || 1) * m * 1e-15;
  const uCols: Float64Array[] = [];
  order.forEach((j, r) => {
    s[r] = sigma[j];
    for (let i = 0; i < n; i++) vt[r * n + i] = v[j][i];
    uCols.push(sigma[j] > tiny ? cols[j].map((x) => x / sigma[j]) : new Float64Array(m));
  });
  completeOrthonormal(uCols, sigma.map((_, r) => sigma[order[r]] > tiny), m);
  uCols.forEach((c, r) => { for (let i = 0; i < m; i++) u[i * k + r] = c[i]; });
  return { u, s, vt, k };
}

/** [c s; -s c] applied to the column pair (x, y): x <- c x - s y, y <- s x + c y. */
function rotate(x: Float64Array, y: Float64Array, c: number, s: number): void {
  for (let i = 0; i < x.length; i++) {
    const xi = x[i], yi = y[i];
    x[i] = c * xi - s * yi;
    y[i] = s * xi + c * yi;
  }
}

/** Columns of zero singular values get unit vectors orthogonal to the others (Gram-Schmidt on e_1, e_2, ...). */
function completeOrthonormal(cols: Float64Array[], known: boolean[], m: number): void {
  let e = 0;
  for (let r = 0; r < cols.length; r++) {
    if (known[r]) continue;
    for (; e < m; e++) {
      const c = new Float64Array(m);
      c[e] = 1;
      for (let pass = 0; pass < 2; pass++) {
        for (let o = 0; o < cols.length; o++) {
          if (o === r || (!known[o] && o > r)) continue;
          let dot = 0;
          for (let i = 0; i < m; i++) dot += c[i] * cols[o][i];
          for (let i = 0; i < m; i++) c[i] -= dot * cols[o][i];
        }
      }
      const len = norm2(c);
      if (len > 1e-8) {
        cols[r] = c.map((x) => x / len);
        e++;
        break;
      }
    }
  }
}

function norm2(x: Float64Array): number {
  let ss = 0;
  for (let i = 0; i < x.length; i++) ss += x[i] * x[i];
  return Math.sqrt(ss);
}
