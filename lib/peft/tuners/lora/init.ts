/**
 * LoRA initialisations that read the base weight, as HF peft's LoraLayer (src/peft/tuners/lora/layer.py
 * at 5d602fd), on host Float64Arrays over the [out, in] weight (Conv1D's [in, out] is transposed first
 * and the residual back, as HF's transpose(weight, fan_in_fan_out)):
 * - pissa_init, 'pissa': W = V S U^T (exact thin SVD); S_r /= s; A = sqrt(S_r) U_r^T [r, in],
 *   B = V_r sqrt(S_r) [out, r]; the base weight becomes the residual W - s B A.
 * - pissa_init, 'pissa_niter_N': the same from torch.svd_lowrank(W, q = r, niter = N) (Halko et al.'s
 *   randomized range finder with N subspace iterations, as torch 1.13's _svd_lowrank: a Gaussian sketch,
 *   QR after every product); its random sketch comes from peftjs's seeded stream, not torch's.
 * - olora_init: W = Q R (thin QR; here Gram-Schmidt, so diag(R) >= 0, where LAPACK's Householder signs may
 *   differ: the pairs (Q_j, R_j) are the same up to a shared sign); B = Q[:, :r], A = R[:r]; W - s B A.
 *   HF reads Conv1D's [in, out] weight untransposed there, which gives adapters of the wrong shapes, so
 *   OLoRA on a Conv1D layer is refused here.
 * - orthogonal_init: X ~ N(0, 1) [r, r], Q = qr(X).Q; A = (G1 [in, r/2] Q[0::2, :])^T / 10,
 *   B = (G2 [r/2, out])^T Q[1::2, :] / 10 with G1, G2 ~ N(0, 1): B A = 0 (the odd and even rows of Q are
 *   orthogonal), so the adapter starts as the identity; r must be even.
 */
import { randn } from '../../../tensor/creation';
import { svd } from './svd';

export interface InitResult {
  a: Float64Array;
  b: Float64Array;
  /** The new base weight in [out, in] (absent: the base weight is not touched). */
  residual?: Float64Array;
}

/** Thin QR of a row-major [m, n] matrix by Gram-Schmidt with reorthogonalisation: q [m, k], r [k, n], k = min(m, n). */
export function qr(a: ArrayLike<number>, m: number, n: number): { q: Float64Array; r: Float64Array; k: number } {
  const k = Math.min(m, n);
  const q = new Float64Array(m * k), r = new Float64Array(k * n);
  const qCols: Float64Array[] = [];
  for (let j = 0; j < n; j++) {
    const v = new Float64Array(m);
    for (let i = 0; i < m; i++) v[i] = a[i * n + j];
    for (let pass = 0; pass < 2; pass++) {
      qCols.forEach((c, i) => {
        let dot = 0;
        for (let t = 0; t < m; t++) dot += c[t] * v[t];
        for (let t = 0; t < m; t++) v[t] -= dot * c[t];
        r[i * n + j] += dot;
      });
    }
    if (j < k) {
      let norm = 0;
      for (let t = 0; t < m; t++) norm += v[t] * v[t];
      norm = Math.sqrt(norm);
      r[j * n + j] = norm;
      const c = new Float64Array(m);
      if (norm > 0) for (let t = 0; t < m; t++) c[t] = v[t] / norm;
      else c[j % m] = 1;  // a dependent column: any unit vector (its R entry is 0)
      qCols.push(c);
    }
  }
  qCols.forEach((c, j) => { for (let i = 0; i < m; i++) q[i * k + j] = c[i]; });
  return { q, r, k };
}

/** [m, p] = [m, n] @ [n, p]; transposes by flags (a^T is [n, m] stored as [m, n] when ta). */
export function matmulHost(a: ArrayLike<number>, b: ArrayLike<number>, m: number, n: number, p: number, ta = false, tb = false): Float64Array {
  const out = new Float64Array(m * p);
  for (let i = 0; i < m; i++) {
    for (let t = 0; t < n; t++) {
      const x = ta ? a[t * m + i] : a[i * n + t];
      if (x === 0) continue;
      for (let j = 0; j < p; j++) out[i * p + j] += x * (tb ? b[j * n + t] : b[t * p + j]);
    }
  }
  return out;
}

function gaussian(rows: number, cols: number): Float64Array {
  const t = randn([rows, cols]);
  const v = Float64Array.from(t.toFloat32Array());
  t.dispose();
  return v;
}

/**
 * torch's svd_lowrank(A, q, niter) for a row-major [m, n] A: U [m, q], S [q], V [n, q] with A ~ U diag(S) V^T.
 * Halko et al.'s Algorithm 5.1 as torch 1.13's _svd_lowrank arranges it (the sketch of A^T when m < n or n > q).
 */
export function svdLowrank(a: Float64Array, m: number, n: number, q: number, niter: number): { u: Float64Array; s: Float64Array; v: Float64Array } {
  if (q > Math.min(m, n)) throw new RangeError(`svdLowrank: q = ${q} exceeds min(m, n) = ${Math.min(m, n)}`);
  if (m < n || n > q) {
    // basis of the range of A^T ([n, q]); B_t = A Q [m, q]; svd(B_t) = U S Vh; V = Q Vh^T
    let b = qr(matmulHost(a, gaussian(m, q), n, m, q, true), n, q).q;
    for (let i = 0; i < niter; i++) {
      b = qr(matmulHost(a, b, m, n, q), m, q).q;
      b = qr(matmulHost(a, b, n, m, q, true), n, q).q;
    }
    const bt = matmulHost(a, b, m, n, q);
    const d = svd(bt, m, q);
    return { u: d.u, s: d.s, v: matmulHost(b, d.vt, n, q, q, false, true) };
  }
  // basis of the range of A ([m, q]); B_t = Q^T A [q, n]; svd(B_t) = U S Vh; U = Q U; V = Vh^T
  let b = qr(matmulHost(a, gaussian(n, q), m, n, q), m, q).q;
  for (let i = 0; i < niter; i++) {
    b = qr(matmulHost(a, b, n, m, q, true), n, q).q;
    b = qr(matmulHost(a, b, m, n, q), m, q).q;
  }
  const bt = matmulHost(b, a, q, m, n, true);
  const d = svd(bt, q, n);
  const v = new Float64Array(n * d.k);
  for (let i = 0; i < d.k; i++) for (let j = 0; j < n; j++) v[j * d.k + i] = d.vt[i * n + j];
  return { u: matmulHost(b, d.u, m, q, d.k), s: d.s, v };
}

/** HF's pissa_init over W [out, in]: 'pissa' or 'pissa_niter_N'. */
export function pissaInit(w: Float64Array, out: number, inF: number, r: number, scale: number, init: string): InitResult {
  if (r > Math.min(out, inF)) throw new RangeError(`initLoraWeights '${init}': r = ${r} exceeds min(out, in) = ${Math.min(out, inF)} of the layer`);
  const sr = new Float64Array(r);
  const left = new Float64Array(out * r), rightT = new Float64Array(r * inF);  // V_r [out, r], U_r^T [r, in]
  if (init === 'pissa') {
    const d = svd(w, out, inF);
    for (let j = 0; j < r; j++) {
      sr[j] = d.s[j] / scale;
      for (let i = 0; i < out; i++) left[i * r + j] = d.u[i * d.k + j];
      for (let i = 0; i < inF; i++) rightT[j * inF + i] = d.vt[j * inF + i];
    }
  } else {
    const niter = parseNiter(init);
    if (niter === null) throw new RangeError(`initLoraWeights should be 'pissa' or 'pissa_niter_[number of iters]', got ${JSON.stringify(init)}`);
    const d = svdLowrank(w, out, inF, r, niter);
    for (let j = 0; j < r; j++) {
      sr[j] = d.s[j] / scale;
      for (let i = 0; i < out; i++) left[i * r + j] = d.u[i * r + j];
      for (let i = 0; i < inF; i++) rightT[j * inF + i] = d.v[i * r + j];
    }
  }
  const a = new Float64Array(r * inF), b = new Float64Array(out * r);
  for (let j = 0; j < r; j++) {
    const g = Math.sqrt(sr[j]);
    for (let i = 0; i < inF; i++) a[j * inF + i] = g * rightT[j * inF + i];
    for (let i = 0; i < out; i++) b[i * r + j] = left[i * r + j] * g;
  }
  return { a, b, residual: subtractScaled(w, b, a, out, inF, r, scale) };
}

/** HF's olora_init over W [out, in]. */
export function oloraInit(w: Float64Array, out: number, inF: number, r: number, scale: number): InitResult {
  const { q, r: rm, k } = qr(w, out, inF);
  if (r > k) throw new RangeError(`initLoraWeights 'olora': r = ${r} exceeds min(out, in) = ${k} of the layer`);
  const b = new Float64Array(out * r);
  for (let i = 0; i < out; i++) for (let j = 0; j < r; j++) b[i * r + j] = q[i * k + j];
  const a = Float64Array.from(rm.subarray(0, r * inF));
  return { a, b, residual: subtractScaled(w, b, a, out, inF, r, scale) };
}

/** HF's orthogonal_init: B A = 0 at init; the base weight stays. */
export function orthogonalInit(out: number, inF: number, r: number): InitResult {
  if (r % 2 !== 0) throw new RangeError(`initLoraWeights 'orthogonal' requires the LoRA rank to be even, got ${r}`);
  const h = r / 2;
  const { q } = qr(gaussian(r, r), r, r);
  const qOdd = new Float64Array(h * r), qEven = new Float64Array(h * r);
  for (let i = 0; i < h; i++) for (let j = 0; j < r; j++) { qOdd[i * r + j] = q[(2 * i) * r + j]; qEven[i * r + j] = q[(2 * i + 1) * r + j]; }
  const aT = matmulHost(gaussian(inF, h), qOdd, inF, h, r);        // [in, r]
  const b = matmulHost(gaussian(h, out), qEven, out, h, r, true);  // [out, r]
  const a = new Float64Array(r * inF);
  for (let i = 0; i < inF; i++) for (let j = 0; j < r; j++) a[j * inF + i] = aT[i * r + j] / 10;
  return { a, b: b.map((v) => v / 10) };
}

/** 'pissa_niter_N' -> N (a non-negative integer), else null. */
export function parseNiter(init: string): number | null {
  const m = /^pissa_niter_(\d+)$/.exec(init);
  return m ? Number(m[1]) : null;
}

function subtractScaled(w: Float64Array, b: Float64Array, a: Float64Array, out: number, inF: number, r: number, scale: number): Float64Array {
  const ba = matmulHost(b, a, out, r, inF);
  return w.map((v, i) => v - scale * ba[i]);
}
