/**
 * The reference (IA)3 kernels: the math as plain loops over any float array, and the js backend's kernels
 * over it. Shapes: x [T, K], W [N, K], b [N], l [N] (output) or [K] (input), dy [T, N].
 */
import { type Arr, alloc, at, put } from '../reference_helpers';
import type { Ia3Kernels, Ia3Mode } from './kernel';

export interface Ia3Inputs {
  T: number; K: number; N: number;
  x: Arr; w: Arr; bias: Arr | null;
  /** The scaling vector: [N] for output scaling, [K] for input scaling. */
  l: Arr;
  mode: Ia3Mode;
}

export function ia3Forward(p: Ia3Inputs): Arr {
  const { T, K, N, x, w, bias, l, mode } = p;
  const y = alloc(x, T * N);
  for (let t = 0; t < T; t++)
    for (let n = 0; n < N; n++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += x[t * K + k] * (mode === 'input' ? l[k] : 1) * w[n * K + k];
      const pre = s + (bias ? bias[n] : 0);
      y[t * N + n] = mode === 'output' ? pre * l[n] : pre;
    }
  return y;
}

/** Gradients of ia3Forward: dx and dl (and dbias, which BitFit-style callers may want). */
export function ia3Backward(p: Ia3Inputs, dy: Arr): { dx: Arr; dl: Arr } {
  const { T, K, N, x, w, bias, l, mode } = p;
  const dx = alloc(dy, T * K), dl = alloc(dy, mode === 'output' ? N : K);
  for (let t = 0; t < T; t++) {
    for (let n = 0; n < N; n++) {
      if (mode === 'output') {
        let pre = bias ? bias[n] : 0;
        for (let k = 0; k < K; k++) pre += x[t * K + k] * w[n * K + k];
        dl[n] += dy[t * N + n] * pre;
      }
    }
    for (let k = 0; k < K; k++) {
      let h = 0;  // (dy (diag l) W) for output scaling, (dy W) for input scaling
      for (let n = 0; n < N; n++) h += dy[t * N + n] * (mode === 'output' ? l[n] : 1) * w[n * K + k];
      if (mode === 'input') {
        dl[k] += h * x[t * K + k];
        dx[t * K + k] = h * l[k];
      } else dx[t * K + k] = h;
    }
  }
  return { dx, dl };
}

/** The js backend's kernels: the math above on float32 storage. */
export const jsIa3Kernels: Ia3Kernels = {
  ia3Forward(p) {
    const inputs = { T: p.T, K: p.K, N: p.N, x: at(p.x), w: at(p.w), bias: p.bias ? at(p.bias) : null, l: at(p.l), mode: p.mode };
    put(p.y, ia3Forward(inputs));
    if (p.yPre !== null) put(p.yPre, ia3Forward({ ...inputs, l: new Float32Array(p.N).fill(1), mode: 'output' }));
  },

  ia3Backward(p) {
    if (p.mode === 'output' && p.yPre === null) throw new Error('ia3Backward: output scaling needs yPre (the unscaled output) for dl');
    // dl in output mode is colsum(dy * yPre): recover the bias-free reference's pre-output from yPre.
    const inputs = { T: p.T, K: p.K, N: p.N, x: at(p.x), w: at(p.w), bias: null, l: at(p.l), mode: p.mode };
    const g = ia3Backward(inputs, at(p.dy));
    if (p.mode === 'output') {
      const dy = at(p.dy), pre = at(p.yPre!), dl = at(p.dl);
      for (let n = 0; n < p.N; n++) {
        let s = 0;
        for (let t = 0; t < p.T; t++) s += dy[t * p.N + n] * pre[t * p.N + n];
        dl[n] = s;
      }
    } else put(p.dl, g.dl);
    put(p.dx, g.dx);
  },
};
