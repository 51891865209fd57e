/**
 * The reference LoRA kernels: the math as plain loops over any float array (float32 on the js backend,
 * float64 in the gradient checks), and the js backend's kernels over it. Shapes: x [T, K], W [N, K],
 * b [N], A [r, K], B [N, r], dy [T, N].
 */
import { type Arr, alloc, at, dropoutFactor, put } from '../reference_helpers';
import type { LoraKernels } from './kernel';

/** C[m, n] = sum_k A[m, k] B[n, k] (both row-major, B "transposed" as in x W^T). */
function matmulNT(A: Arr, B: Arr, m: number, n: number, k: number, out: Arr): Arr {
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let q = 0; q < k; q++) s += A[i * k + q] * B[j * k + q];
      out[i * n + j] = s;
    }
  return out;
}

export interface LoraShapes {
  T: number;
  K: number;
  N: number;
  r: number;
}

export interface LoraForwardInputs extends LoraShapes {
  x: Arr; w: Arr; bias: Arr | null; a: Arr; b: Arr;
  scale: number;
  dropout: number;
  seed: number;
  /** Index of x's first row in the whole batch: the dropout mask of row t uses element (rowOffset + t) * K + k. */
  rowOffset?: number;
}

/** The dropped-out input drop(x) for the LoRA branch. */
export function loraDroppedInput(p: LoraForwardInputs): Arr {
  const { T, K, x, dropout, seed } = p;
  const off = (p.rowOffset ?? 0) * K;
  const out = alloc(x, T * K);
  for (let i = 0; i < T * K; i++) out[i] = x[i] * dropoutFactor(seed, off + i, dropout);
  return out;
}

/** y = x W^T + b + s (drop(x) A^T) B^T; u = drop(x) A^T is kept for the backward. */
export function loraForward(p: LoraForwardInputs): { y: Arr; u: Arr } {
  const { T, K, N, r, x, w, bias, a, b, scale } = p;
  const u = matmulNT(loraDroppedInput(p), a, T, r, K, alloc(x, T * r));
  const y = matmulNT(x, w, T, N, K, alloc(x, T * N));
  for (let t = 0; t < T; t++)
    for (let n = 0; n < N; n++) {
      let d = 0;
      for (let j = 0; j < r; j++) d += u[t * r + j] * b[n * r + j];
      y[t * N + n] += (bias ? bias[n] : 0) + scale * d;
    }
  return { y, u };
}

export interface LoraGrads { dx: Arr; da: Arr; db: Arr; dbias: Arr }

/**
 * The backward of loraForward given dy: dB = s dy^T u, g = s dy B, dA = g^T drop(x),
 * dx = dy W + mask * (g A), dbias = column sums of dy. W gets no gradient.
 */
export function loraBackward(p: LoraForwardInputs, u: Arr, dy: Arr): LoraGrads {
  const { T, K, N, r, w, a, b, scale, dropout, seed } = p;
  const off = (p.rowOffset ?? 0) * K;
  const g = alloc(dy, T * r), db = alloc(dy, N * r), dbias = alloc(dy, N);
  for (let t = 0; t < T; t++)
    for (let n = 0; n < N; n++) {
      const d = dy[t * N + n];
      dbias[n] += d;
      for (let j = 0; j < r; j++) {
        g[t * r + j] += scale * d * b[n * r + j];
        db[n * r + j] += scale * d * u[t * r + j];
      }
    }
  const xd = loraDroppedInput(p);
  const da = alloc(dy, r * K);
  for (let j = 0; j < r; j++)
    for (let k = 0; k < K; k++) {
      let s = 0;
      for (let t = 0; t < T; t++) s += g[t * r + j] * xd[t * K + k];
      da[j * K + k] = s;
    }
  const dx = alloc(dy, T * K);
  for (let t = 0; t < T; t++)
    for (let k = 0; k < K; k++) {
      let base = 0, lora = 0;
      for (let n = 0; n < N; n++) base += dy[t * N + n] * w[n * K + k];
      for (let j = 0; j < r; j++) lora += g[t * r + j] * a[j * K + k];
      dx[t * K + k] = base + lora * dropoutFactor(seed, off + t * K + k, dropout);
    }
  return { dx, da, db, dbias };
}

/** The js backend's kernels: the math above on float32 storage. */
export const jsLoraKernels: LoraKernels = {
  loraForward(p) {
    const inputs = {
      T: p.T, K: p.K, N: p.N, r: p.r, x: at(p.x), a: at(p.a), b: at(p.b), scale: p.scale, dropout: p.dropout,
      seed: p.seed, rowOffset: p.rowOffset, bias: p.bias ? at(p.bias) : null,
      // Without W the base term is what y already holds: compute the adapter's part on a zero W.
      w: p.w ? at(p.w) : new Float32Array(p.N * p.K),
    };
    const { y, u } = loraForward(inputs);
    put(p.u, u);
    const out = at(p.y);
    for (let i = 0; i < p.T * p.N; i++) out[i] = p.w ? y[i] : out[i] + y[i];
  },

  loraBackward(p) {
    const inputs = {
      T: p.T, K: p.K, N: p.N, r: p.r, x: at(p.x), a: at(p.a), b: at(p.b), scale: p.scale, dropout: p.dropout,
      seed: p.seed, rowOffset: p.rowOffset, bias: null, w: p.w ? at(p.w) : new Float32Array(p.N * p.K),
    };
    const g = loraBackward(inputs, at(p.u), at(p.dy));
    put(p.da, g.da);
    put(p.db, g.db);
    put(p.dbias, g.dbias);
    if (p.dx !== null) {
      const dx = at(p.dx);
      for (let i = 0; i < p.T * p.K; i++) dx[i] = p.w ? g.dx[i] : dx[i] + g.dx[i];
    }
  },
};
