/**
 * The reference rMSNorm and LayerNorm over the last dimension of [rows, cols]: plain loops over any float
 * array, and the js backend's kernels over them.
 */
import { type Arr, at, opt } from '../reference_helpers';
import type { NormKernels } from './kernel';

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

/** The js backend's kernels: the math above on float32 storage. */
export const jsNormKernels: NormKernels = {
  rmsNormForward(p) {
    rmsNormForward({ ...p, x: at(p.x), weight: opt(p.weight), y: at(p.y), rstd: at(p.rstd) });
  },

  rmsNormBackward(p) {
    rmsNormBackward({ ...p, x: at(p.x), weight: opt(p.weight), rstd: at(p.rstd), dy: at(p.dy), dx: at(p.dx), dweight: opt(p.dweight) });
  },

  layerNormForward(p) {
    layerNormForward({ ...p, x: at(p.x), weight: opt(p.weight), bias: opt(p.bias), y: at(p.y), mean: at(p.mean), rstd: at(p.rstd) });
  },

  layerNormBackward(p) {
    layerNormBackward({
      ...p, x: at(p.x), weight: opt(p.weight), mean: at(p.mean), rstd: at(p.rstd), dy: at(p.dy), dx: at(p.dx),
      dweight: opt(p.dweight), dbias: opt(p.dbias),
    });
  },
};
