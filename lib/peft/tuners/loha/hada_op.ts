/**
 * LoHa's adapter term y = x dW^T with dW = s (A1 B1) ∘ (A2 B2) (HF peft's HadaWeight, loha/layer.py), as one
 * autograd node with a hand-written backward, instead of building dW with matmul/mul and letting autograd
 * form the dense gradient dy^T x [out, in] and reduce it into the factors.
 *
 * Two ways to compute it, chosen per shape by flop count (hadaPath):
 *
 *  - 'khatriRao': a Hadamard product of two rank-r matrices has rank at most r^2:
 *      dW[o, i] = s sum_{k,l} A1[o,k] A2[o,l] B1[k,i] B2[l,i] = s (P Q^T)[o, i]
 *    with P [out, r^2], P[o, (k,l)] = A1[o,k] A2[o,l] and Q^T [r^2, in], Q^T[(k,l), i] = B1[k,i] B2[l,i]
 *    (row-wise / column-wise Khatri-Rao products). So y = s (x Q) P^T, and with u = x Q, v = s dy P:
 *      dx = v Q^T,  dP = s dy^T u,  dQ^T = v^T x,
 *    and dA1[o,k] = sum_l dP[o,(k,l)] A2[o,l] (likewise dA2, dB1, dB2). No [out, in] matrix exists, forward or
 *    backward: 3 T r^2 (in + out) multiply-adds against 3 T in out for the dense product, so it pays while
 *    r^2 < in out / (in + out), half the width for a square layer (r = 8 and 16 at width 768, to r = 45 at 4096).
 *    It is the identity G ∘ (a b^T) = diag(a) G diag(b) (which turns (G ∘ A2 B2) B1^T into r sums of
 *    diag(A2[:, k]) dy^T (x diag(B2[k, :]) B1^T)) applied to all r^2 pairs at once: GEMMs of inner size r^2
 *    instead of r^2 thin ones, the forward included.
 *  - 'dense': dW is built (two GEMMs out x r x in, one Hadamard), y = x dW^T; the backward builds A1 B1 and
 *    A2 B2 again rather than keeping three [out, in] matrices alive across the step, forms G = dy^T x once,
 *    and reduces G ∘ W2, G ∘ W1 into the factors with two GEMMs each (HF's HadaWeight.backward). Kept for
 *    large r (r^2 past the width), where it is the cheaper one, and for tiny layers, where the fewer ops win.
 *    (With few rows it keeps W1, W2 and dW instead of rebuilding them: keepsProducts.)
 *
 * What the node keeps for the backward: x (alive anyway), the four factors, and for 'khatriRao' P, Q^T and
 * u = x Q ([T, r^2]); nothing [out, in] unless the rows are few (keepsProducts).
 */
import { isGradEnabled, noGrad, record } from '../../../tensor/autograd';
import { matmul, mul, sum } from '../../../tensor/ops';
import { rows2d } from '../../../tensor/raw_views';
import { tidy } from '../../../tensor/scope';
import { Tensor } from '../../../tensor/tensor';

export type HadaPath = 'khatriRao' | 'dense';

/**
 * 'khatriRao' runs about 20 more small ops a step than 'dense' (building P and Q, reducing dP and dQ into the
 * factors); at the tiny Llama's sizes that is what dominates. Measured on this machine's native backend, one
 * thread: about 0.15 ms a forward + backward and 0.04 ms a forward, i.e. about this many multiply-adds at the
 * ~65 G/s its GEMMs run at those sizes.
 */
const KHATRI_RAO_OVERHEAD = { forward: 2.5e6, step: 1e7 };

/** Multiply-adds of each path for T rows (forward only, or forward + backward with dx). */
export function hadaCosts(rows: number, inF: number, out: number, r: number, backward: boolean): Record<HadaPath, number> {
  const r2 = r * r;
  // khatriRao: u = x Q, y = u P^T; backward v = dy P, dx = v Q^T, dP = dy^T u, dQ = v^T x.
  const kr = rows * r2 * (inF + out) * (backward ? 3 : 1) + 2 * (inF + out) * r2 + (backward ? KHATRI_RAO_OVERHEAD.step : KHATRI_RAO_OVERHEAD.forward);
  // dense: build dW (2 GEMMs), y = x dW^T; backward (rebuild W1, W2,) dx = dy dW, G = dy^T x, 4 factor GEMMs.
  const dense = 2 * out * inF * r + rows * out * inF + (backward ? 2 * out * inF * r + 2 * rows * out * inF + 4 * out * inF * r : 0);
  return { khatriRao: kr, dense };
}

/**
 * The cheaper path by multiply-adds. The inner-size-r^2 GEMMs of 'khatriRao' run 1.2-1.4x below the big
 * ones' rate per multiply-add (measured at T = 2048, width 256, 768 and 4096, r = 8 to 48), so it is taken
 * only when the count says it saves at least a quarter; near that line the two measured alike.
 */
export function hadaPath(rows: number, inF: number, out: number, r: number, backward: boolean): HadaPath {
  const c = hadaCosts(rows, inF, out, r, backward);
  return c.khatriRao <= 0.75 * c.dense ? 'khatriRao' : 'dense';
}

/** An untracked view of t (no autograd node; the caller's scope disposes it). */
function view(t: Tensor, shape: number[], strides: number[]): Tensor {
  return new Tensor(t.storage, shape, strides, t.offset);
}

/** a1, a2 [out, r] as [out, k, l] broadcasts: a1[o, k] (constant in l) and a2[o, l] (constant in k). */
function rowPair(a1: Tensor, a2: Tensor): [Tensor, Tensor] {
  const [out, r] = a1.shape;
  return [view(a1, [out, r, r], [a1.strides[0], a1.strides[1], 0]), view(a2, [out, r, r], [a2.strides[0], 0, a2.strides[1]])];
}

/** b1, b2 [r, in] as [k, l, in] broadcasts: b1[k, i] (constant in l) and b2[l, i] (constant in k). */
function colPair(b1: Tensor, b2: Tensor): [Tensor, Tensor] {
  const [r, inF] = b1.shape;
  return [view(b1, [r, r, inF], [b1.strides[0], 0, b1.strides[1]]), view(b2, [r, r, inF], [0, b2.strides[0], b2.strides[1]])];
}

/** t [p, q, n] summed over its middle axis -> [p, n]. */
function sumMiddle(t: Tensor): Tensor {
  return sum(t.permute([0, 2, 1]).contiguous(), -1);
}

/** x [..., in] -> x dW^T [..., out], dW = scale (a1 b1) ∘ (a2 b2); a1, a2 [out, r], b1, b2 [r, in]. */
export function hadaLinear(x: Tensor, a1: Tensor, b1: Tensor, a2: Tensor, b2: Tensor, scale: number, path?: HadaPath): Tensor {
  const [out, r] = a1.shape;
  const inF = b1.shape[1];
  if (x.shape[x.rank - 1] !== inF || a2.shape[0] !== out || a2.shape[1] !== r || b1.shape[0] !== r || b2.shape[0] !== r || b2.shape[1] !== inF)
    throw new RangeError(`hadaLinear: expected x [..., ${inF}], a1 and a2 [out, r], b1 and b2 [r, in], got x [${x.shape}], a1 [${a1.shape}], b1 [${b1.shape}], a2 [${a2.shape}], b2 [${b2.shape}]`);
  const lead = x.shape.slice(0, -1);
  const rows = x.size / inF;
  const training = isGradEnabled() && [x, a1, b1, a2, b2].some((t) => t.requiresGrad);
  const chosen = path ?? hadaPath(rows, inF, out, r, training);
  return chosen === 'khatriRao' ? khatriRaoLinear(x, a1, b1, a2, b2, scale, lead) : denseLinear(x, a1, b1, a2, b2, scale, lead);
}

function khatriRaoLinear(x: Tensor, a1: Tensor, b1: Tensor, a2: Tensor, b2: Tensor, s: number, lead: number[]): Tensor {
  const [out, r] = a1.shape;
  const inF = b1.shape[1];
  const { y, p, qt, u } = tidy(() => noGrad(() => {
    const x2 = rows2d(x);
    const p = mul(...rowPair(a1, a2)).reshape([out, r * r]); // P[o, k r + l] = a1[o, k] a2[o, l]
    const qt = mul(...colPair(b1, b2)).reshape([r * r, inF]); // Q^T[k r + l, i] = b1[k, i] b2[l, i]
    const u = matmul(x2, qt.T); // [T, r^2]
    const y2 = matmul(u, p.T, { alpha: s }); // [T, out]
    return { y: y2.reshape([...lead, out]), p, qt, u };
  }));
  const result = record(y, 'hadaLinear', [x, a1, b1, a2, b2], (g, [xs, a1s, b1s, a2s, b2s, ps, qts, us], needs) => tidy(() => {
    const g2 = rows2d(g);
    const needA = needs[1] || needs[3], needB = needs[2] || needs[4];
    let dx: Tensor | null = null, da1: Tensor | null = null, db1: Tensor | null = null, da2: Tensor | null = null, db2: Tensor | null = null;
    const v = needs[0] || needB ? matmul(g2, ps, { alpha: s }) : null; // [T, r^2]
    if (needs[0]) dx = matmul(v!, qts).reshape(xs.shape);
    if (needA) {
      const dp = matmul(g2.T, us, { alpha: s }).reshape([out, r, r]); // [out, k, l]
      const [e1, e2] = rowPair(a1s, a2s);
      if (needs[1]) da1 = sum(mul(dp, e2), -1); // sum over l
      if (needs[3]) da2 = sumMiddle(mul(dp, e1)); // sum over k
    }
    if (needB) {
      const dqt = matmul(v!.T, rows2d(xs)).reshape([r, r, inF]); // [k, l, in]
      const [f1, f2] = colPair(b1s, b2s);
      if (needs[2]) db1 = sumMiddle(mul(dqt, f2)); // sum over l
      if (needs[4]) db2 = sumMiddle(mul(dqt, f1).permute([1, 0, 2])); // sum over k
    }
    return [dx, da1, db1, da2, db2];
  }), [x, a1, b1, a2, b2, p, qt, u]);
  for (const t of [p, qt, u]) t.dispose();
  return result;
}

/**
 * Whether the dense path keeps W1 = a1 b1, W2 = a2 b2 and their product for the backward (as the generic path
 * does) instead of rebuilding them there: rebuilding costs 2 out in r multiply-adds against the step's
 * 3 T out in, so it is kept only where that would be more than a few percent (few rows: decoding, tiny
 * models), and large layers trained on many rows hold no [out, in] matrix across the step.
 */
function keepsProducts(rows: number, r: number): boolean {
  return rows < 16 * r;
}

function denseLinear(x: Tensor, a1: Tensor, b1: Tensor, a2: Tensor, b2: Tensor, s: number, lead: number[]): Tensor {
  const out = a1.shape[0];
  const keepProducts = keepsProducts(x.size / b1.shape[1], a1.shape[1]);
  const { y, w1, w2, dw } = tidy(() => noGrad(() => {
    const w1 = matmul(a1, b1), w2 = matmul(a2, b2);
    const dw = mul(w1, w2); // dW / s
    return { y: matmul(rows2d(x), dw.T, { alpha: s }).reshape([...lead, out]), w1, w2, dw };
  }));
  const saved = keepProducts ? [w1, w2, dw] : [];
  const result = record(y, 'hadaLinear', [x, a1, b1, a2, b2], (g, [xs, a1s, b1s, a2s, b2s, ...products], needs) => tidy(() => {
    const g2 = rows2d(g);
    const [w1, w2, dw] = keepProducts ? products : [matmul(a1s, b1s), matmul(a2s, b2s), null];
    const dx = needs[0] ? matmul(g2, dw ?? mul(w1, w2), { alpha: s }).reshape(xs.shape) : null;
    let da1: Tensor | null = null, db1: Tensor | null = null, da2: Tensor | null = null, db2: Tensor | null = null;
    if (needs[1] || needs[2] || needs[3] || needs[4]) {
      const gw = matmul(g2.T, rows2d(xs)); // G = dy^T x [out, in], once
      if (needs[1] || needs[2]) {
        const h = mul(gw, w2); // dL/dW1 / s
        if (needs[1]) da1 = matmul(h, b1s.T, { alpha: s });
        if (needs[2]) db1 = matmul(a1s.T, h, { alpha: s });
      }
      if (needs[3] || needs[4]) {
        const h = mul(gw, w1); // dL/dW2 / s
        if (needs[3]) da2 = matmul(h, b2s.T, { alpha: s });
        if (needs[4]) db2 = matmul(a2s.T, h, { alpha: s });
      }
    }
    return [dx, da1, db1, da2, db2];
  }), [x, a1, b1, a2, b2, ...saved]);
  for (const t of [w1, w2, dw]) t.dispose();
  return result;
}
