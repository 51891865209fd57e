/**
 * LoKr's adapter term y = x dW^T with dW = s kron(W1, W2) (HF peft's make_kron, lokr/layer.py), without the
 * Kronecker product: W1 [a, c], W2 [b, d], out = a b, in = c d, and with x's rows read as X[t, j, l]
 * (in index j d + l) and y's as Y[t, i, k] (out index i b + k),
 *   Y[t, i, k] = s sum_j W1[i, j] sum_l W2[k, l] X[t, j, l]
 * (the Kronecker-vector identity (W1 ⊗ W2) vec(X) = vec(W1 X W2^T) per row). One autograd node:
 *
 *   forward   Z  = X W2^T               [T c, d] x [d, b]       (X as x's own [T c, d] view, no copy)
 *             Zp = Z permuted [c, T b]  (a copy, T c b values; kept for dW1)
 *             Yp = s W1 Zp              [a, c] x [c, T b]
 *             y  = Yp permuted [T, a b] (a copy)
 *   backward  Dp = dy permuted [a, T b]  (a copy)
 *             dW1 = s Dp Zp^T           [a, T b] x [T b, c]
 *             Vp  = W1^T Dp             [c, a] x [a, T b], permuted to V [T c, b] (a copy)
 *             dW2 = s V^T X             [b, T c] x [T c, d]
 *             dx  = s V W2              [T c, b] x [b, d]   (already in x's layout)
 *
 * T b c (a + d) multiply-adds forward and twice that backward, against T in out and 2 T in out for the dense
 * product (at in = out = 768, a = c = 24, b = d = 32: 43k per row against 590k), plus four strided copies of
 * T out or T c b values; nothing [out, in], and Zp (one activation's size) is all it keeps. W1 and W2 are
 * ordinary inputs: where LoKr splits them (w1_a w1_b, w2_a w2_b) they are matmul products, small, and
 * autograd carries their gradients on to the halves. (the row-major (W1 ⊗ W2) vec(X) = vec(W1 X W2^T)
 * holds for any a, b, c, d, so every factorisation LoKr makes, 1 x n included, takes this path.)
 */
import { noGrad, record } from '../../../tensor/autograd';
import { matmul } from '../../../tensor/ops';
import { rows2d } from '../../../tensor/raw_views';
import { tidy } from '../../../tensor/scope';
import type { Tensor } from '../../../tensor/tensor';

/** x [..., c d] -> x (scale kron(w1, w2))^T [..., a b]; w1 [a, c], w2 [b, d]. */
export function kronLinear(x: Tensor, w1: Tensor, w2: Tensor, scale: number): Tensor {
  if (w1.rank !== 2 || w2.rank !== 2 || x.shape[x.rank - 1] !== w1.shape[1] * w2.shape[1])
    throw new RangeError(`kronLinear: expected w1 [a, c], w2 [b, d] and x [..., c * d], got x [${x.shape}], w1 [${w1.shape}], w2 [${w2.shape}]`);
  const [a, c] = w1.shape;
  const [b, d] = w2.shape;
  const lead = x.shape.slice(0, -1);
  const rows = x.size / (c * d);
  const { y, zp } = tidy(() => noGrad(() => {
    const x2 = rows2d(x);
    const xr = x2.reshape([rows * c, d]);
    const z = matmul(xr, w2.T); // [T c, b] = [t, j, k]
    const zp = z.reshape([rows, c, b]).permute([1, 0, 2]).contiguous().reshape([c, rows * b]); // [j, (t, k)]
    const yp = matmul(w1, zp, { alpha: scale }); // [a, T b] = [i, t, k]
    const y = yp.reshape([a, rows, b]).permute([1, 0, 2]).contiguous().reshape([...lead, a * b]);
    return { y, zp };
  }));
  const result = record(y, 'kronLinear', [x, w1, w2], (g, [xs, w1s, w2s, zps], needs) => tidy(() => {
    const dp = rows2d(g).reshape([rows, a, b]).permute([1, 0, 2]).contiguous().reshape([a, rows * b]); // [i, (t, k)]
    const dw1 = needs[1] ? matmul(dp, zps.T, { alpha: scale }) : null;
    let dx: Tensor | null = null, dw2: Tensor | null = null;
    if (needs[0] || needs[2]) {
      const vp = matmul(w1s.T, dp); // [c, T b] = [j, t, k]
      const v = vp.reshape([c, rows, b]).permute([1, 0, 2]).contiguous().reshape([rows * c, b]); // [(t, j), k]
      if (needs[2]) dw2 = matmul(v.T, rows2d(xs).reshape([rows * c, d]), { alpha: scale });
      if (needs[0]) dx = matmul(v, w2s, { alpha: scale }).reshape(xs.shape);
    }
    return [dx, dw1, dw2];
  }), [x, w1, w2, zp]);
  zp.dispose();
  return result;
}
