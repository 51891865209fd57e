/**
 * Reference math of the model kernels (model_types.ts, ModelKernels) as plain loops over any float array,
 * so one code runs in float32 (the js backend) and in float64 (the finite-difference gradient checks).
 * Every function writes its outputs into arrays the caller passes; offsets are the caller's business
 * (pass subarrays).
 */
import type { UnaryOpName } from '../types';
import { erf } from './math';

export type Arr = Float32Array | Float64Array;

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

function sigmoid(v: number): number {
  return 1 / (1 + Math.exp(-v));
}

/** f'(x) of each unary op, x being the op's input. */
export const UNARY_DERIVATIVE: Record<UnaryOpName, (x: number) => number> = {
  exp: (x) => Math.exp(x),
  log: (x) => 1 / x,
  sqrt: (x) => 0.5 / Math.sqrt(x),
  tanh: (x) => { const t = Math.tanh(x); return 1 - t * t; },
  sigmoid: (x) => { const s = sigmoid(x); return s * (1 - s); },
  relu: (x) => (x > 0 ? 1 : 0),
  neg: () => -1,
  // d/dx x Phi(x) = Phi(x) + x phi(x)
  gelu: (x) => 0.5 * (1 + erf(x / Math.SQRT2)) + x * INV_SQRT_2PI * Math.exp(-0.5 * x * x),
  // y = x/2 (1 + tanh(u)), u = c (x + 0.044715 x^3): y' = (1 + t)/2 + x/2 (1 - t^2) c (1 + 3 * 0.044715 x^2)
  gelu_tanh: (x) => {
    const t = Math.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x));
    return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x);
  },
  // d/dx x s(x) = s (1 + x (1 - s))
  silu: (x) => { const s = sigmoid(x); return s * (1 + x * (1 - s)); },
};

/** dx = dy * f'(x) over n elements. */
export function unaryBackward(op: UnaryOpName, x: Arr, dy: Arr, dx: Arr, n: number): void {
  const d = UNARY_DERIVATIVE[op];
  for (let i = 0; i < n; i++) dx[i] = dy[i] * d(x[i]);
}

/** dx = y * (dy - sum(dy * y)) per row of [rows, cols]. */
export function softmaxBackward(y: Arr, dy: Arr, dx: Arr, rows: number, cols: number): void {
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let dot = 0;
    for (let j = 0; j < cols; j++) dot += dy[o + j] * y[o + j];
    for (let j = 0; j < cols; j++) dx[o + j] = y[o + j] * (dy[o + j] - dot);
  }
}

/** out[c] = beta * out[c] + sum_r a[r, c]; beta = 0 never reads out (so stale NaNs do not leak in). */
export function columnSum(a: Arr, out: Arr, rows: number, cols: number, beta: number): void {
  for (let c = 0; c < cols; c++) {
    let s = 0;
    for (let r = 0; r < rows; r++) s += a[r * cols + c];
    out[c] = beta === 0 ? s : beta * out[c] + s;
  }
}

/** dst[sum_d idx_d * strides[d]] = src[flat] over the row-major walk of shape (the inverse of stridedCopy). */
export function stridedScatter(src: Arr, dst: Arr, shape: number[], strides: number[]): void {
  const total = shape.reduce((x, y) => x * y, 1);
  const idx = new Array<number>(shape.length).fill(0);
  for (let flat = 0; flat < total; flat++) {
    let at = 0;
    for (let d = 0; d < shape.length; d++) at += idx[d] * strides[d];
    dst[at] = src[flat];
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
}

export interface NormArrays {
  rows: number;
  cols: number;
  x: Arr;
  weight: Arr | null;
  eps: number;
}

/** y = x * rstd * weight with rstd = 1 / sqrt(mean(x^2) + eps), per row (HF LlamaRMSNorm). */
export function rmsNormForward(p: NormArrays & { y: Arr; rstd: Arr }): void {
  const { rows, cols, x, weight, eps, y, rstd } = p;
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let ss = 0;
    for (let j = 0; j < cols; j++) ss += x[o + j] * x[o + j];
    const s = 1 / Math.sqrt(ss / cols + eps);
    rstd[r] = s;
    for (let j = 0; j < cols; j++) y[o + j] = x[o + j] * s * (weight ? weight[j] : 1);
  }
}

/**
 * With xhat = x * rstd and g = dy * weight: dx = rstd * (g - xhat * mean(g * xhat));
 * dweight = sum over rows of dy * xhat (written).
 */
export function rmsNormBackward(p: NormArrays & { rstd: Arr; dy: Arr; dx: Arr; dweight: Arr | null }): void {
  const { rows, cols, x, weight, rstd, dy, dx, dweight } = p;
  if (dweight) dweight.fill(0, 0, cols);
  for (let r = 0; r < rows; r++) {
    const o = r * cols, s = rstd[r];
    let dot = 0;
    for (let j = 0; j < cols; j++) dot += dy[o + j] * (weight ? weight[j] : 1) * x[o + j] * s;
    const m = dot / cols;
    for (let j = 0; j < cols; j++) {
      const xhat = x[o + j] * s;
      dx[o + j] = s * (dy[o + j] * (weight ? weight[j] : 1) - xhat * m);
      if (dweight) dweight[j] += dy[o + j] * xhat;
    }
  }
}

/** y = (x - mean) * rstd * weight + bias with the biased variance (torch.nn.LayerNorm). */
export function layerNormForward(p: NormArrays & { bias: Arr | null; y: Arr; mean: Arr; rstd: Arr }): void {
  const { rows, cols, x, weight, bias, eps, y, mean, rstd } = p;
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let sum = 0;
    for (let j = 0; j < cols; j++) sum += x[o + j];
    const mu = sum / cols;
    let v = 0;
    for (let j = 0; j < cols; j++) v += (x[o + j] - mu) * (x[o + j] - mu);
    const s = 1 / Math.sqrt(v / cols + eps);
    mean[r] = mu;
    rstd[r] = s;
    for (let j = 0; j < cols; j++) y[o + j] = (x[o + j] - mu) * s * (weight ? weight[j] : 1) + (bias ? bias[j] : 0);
  }
}

/**
 * With xhat = (x - mean) * rstd and g = dy * weight: dx = rstd * (g - mean(g) - xhat * mean(g * xhat));
 * dweight = sum of dy * xhat, dbias = sum of dy over rows (written).
 */
export function layerNormBackward(p: NormArrays & { mean: Arr; rstd: Arr; dy: Arr; dx: Arr; dweight: Arr | null; dbias: Arr | null }): void {
  const { rows, cols, x, weight, mean, rstd, dy, dx, dweight, dbias } = p;
  if (dweight) dweight.fill(0, 0, cols);
  if (dbias) dbias.fill(0, 0, cols);
  for (let r = 0; r < rows; r++) {
    const o = r * cols, mu = mean[r], s = rstd[r];
    let sg = 0, sgx = 0;
    for (let j = 0; j < cols; j++) {
      const g = dy[o + j] * (weight ? weight[j] : 1);
      sg += g;
      sgx += g * (x[o + j] - mu) * s;
    }
    const mg = sg / cols, mgx = sgx / cols;
    for (let j = 0; j < cols; j++) {
      const xhat = (x[o + j] - mu) * s;
      dx[o + j] = s * (dy[o + j] * (weight ? weight[j] : 1) - mg - xhat * mgx);
      if (dweight) dweight[j] += dy[o + j] * xhat;
      if (dbias) dbias[j] += dy[o + j];
    }
  }
}

/** out[i, :] = table[ids[i], :]. */
export function embeddingForward(n: number, dim: number, ids: Int32Array, table: Arr, out: Arr): void {
  for (let i = 0; i < n; i++)
    for (let j = 0; j < dim; j++) out[i * dim + j] = table[ids[i] * dim + j];
}

/** dtable[ids[i], :] += dy[i, :]. */
export function embeddingBackward(n: number, dim: number, ids: Int32Array, dy: Arr, dtable: Arr): void {
  for (let i = 0; i < n; i++)
    for (let j = 0; j < dim; j++) dtable[ids[i] * dim + j] += dy[i * dim + j];
}

export interface RopeArrays {
  rows: number; heads: number; headDim: number; rotaryDim: number; rowStride: number;
  x: Arr; positions: Int32Array; theta: number; interleaved: boolean; inverse: boolean;
}

/**
 * inv_freq[i] = 1 / theta^(2i / rotaryDim) as HF computes it in float32: the exponent, the power and the
 * reciprocal are each rounded to float32 (Math.fround), so the angles match PyTorch's to the last bit or so.
 */
export function ropeInvFreq(rotaryDim: number, theta: number): Float64Array {
  const half = rotaryDim / 2, f = Math.fround;
  const inv = new Float64Array(half);
  for (let i = 0; i < half; i++) inv[i] = f(1 / f(Math.pow(f(theta), f(f(2 * i) / f(rotaryDim)))));
  return inv;
}

/**
 * Rotates each pair (a, b) of x by angle = positions[row] * inv_freq[i] (float32 product, as HF):
 * a' = a cos - b sin, b' = b cos + a sin; by -angle when inverse. Pairs are (i, i + rotaryDim/2)
 * (HF rotate_half) or (2i, 2i + 1) when interleaved (llama2.c, Meta).
 */
export function rope(p: RopeArrays): void {
  const { rows, heads, headDim, rotaryDim, rowStride, x, positions, theta, interleaved, inverse } = p;
  const half = rotaryDim / 2;
  const inv = ropeInvFreq(rotaryDim, theta);
  for (let r = 0; r < rows; r++) {
    for (let i = 0; i < half; i++) {
      const angle = Math.fround(Math.fround(positions[r]) * inv[i]);
      const c = Math.cos(angle), s = inverse ? -Math.sin(angle) : Math.sin(angle);
      for (let h = 0; h < heads; h++) {
        const o = r * rowStride + h * headDim;
        const ia = interleaved ? o + 2 * i : o + i, ib = interleaved ? ia + 1 : ia + half;
        const a = x[ia], b = x[ib];
        x[ia] = a * c - b * s;
        x[ib] = b * c + a * s;
      }
    }
  }
}

/** lse[r] = max + log(sum exp(logits - max)); losses[r] = lse[r] - logits[r, t] (0 when ignored). Returns counted rows. */
export function crossEntropyForward(rows: number, vocab: number, logits: Arr, targets: Int32Array, ignoreIndex: number, losses: Arr, lse: Arr): number {
  let counted = 0;
  for (let r = 0; r < rows; r++) {
    const o = r * vocab;
    let m = -Infinity;
    for (let j = 0; j < vocab; j++) m = Math.max(m, logits[o + j]);
    let s = 0;
    for (let j = 0; j < vocab; j++) s += Math.exp(logits[o + j] - m);
    lse[r] = m + Math.log(s);
    if (targets[r] === ignoreIndex) losses[r] = 0;
    else {
      losses[r] = lse[r] - logits[o + targets[r]];
      counted++;
    }
  }
  return counted;
}

/** dlogits[r] = (exp(logits[r] - lse[r]) - onehot(t)) * gradScale; zero rows for ignored targets. */
export function crossEntropyBackward(rows: number, vocab: number, logits: Arr, targets: Int32Array, ignoreIndex: number, lse: Arr, gradScale: number, dlogits: Arr): void {
  for (let r = 0; r < rows; r++) {
    const o = r * vocab, t = targets[r];
    for (let j = 0; j < vocab; j++)
      dlogits[o + j] = t === ignoreIndex ? 0 : (Math.exp(logits[o + j] - lse[r]) - (j === t ? 1 : 0)) * gradScale;
  }
}
