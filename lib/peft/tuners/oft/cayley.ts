/**
 * The orthogonal-block math OFT and BOFT share (HF peft's OFTRotationModule in src/peft/tuners/oft/layer.py
 * and BOFTLayer.cayley_batch in src/peft/tuners/boft/layer.py, peft 5d602fd):
 *   bmm            a batched matrix product [B, M, K] x [B (or 1), K, N], differentiable. lib/tensor/ops has
 *                  only 2-D matmul; this runs the backend's gemm once per batch on strided views (no copy
 *                  for row-major or transposed slices), and its backward is two more batched products.
 *   skewFromUpper  OFT's _pytorch_skew_symmetric: Q = U - U^T with U's strict upper triangle filled row by
 *                  row from the stored vector (torch.triu_indices order), built with concat (differentiable).
 *   cayleyNeumann  OFT's default _cayley_batch: I + 2Q + 2Q^2 + ... + Q^(n-1), HF's loop transcribed.
 *   cayleyExact    torch.linalg.solve(I + S, I - S, left=False) = (I - S)(I + S)^-1 = 2 (I + S)^-1 - I (I + S
 *                  and I - S commute). There is no differentiable solve in lib/tensor/ops, so the inverses are
 *                  taken on the host (Gauss-Jordan in float64 per block: the blocks are small, bs x bs) and the
 *                  op records its own backward, dS = -2 A^-T G A^-T with A = I + S (d(A^-1) = -A^-1 dA A^-1).
 *   batchedInverse the same host inverse, for unmerging (HF's torch.linalg.inv of the rotation).
 * Host round trips use toFloat32Array / fromArray, so they work on every backend (a GPU one pays a copy).
 */
import { noGrad, record } from '../../../tensor/autograd';
import { empty, fromArray, zeros } from '../../../tensor/creation';
import { add, scale, sub } from '../../../tensor/ops';
import { concat } from '../../../tensor/shape_ops';
import { backendFor, Tensor } from '../../../tensor/tensor';
import type { Buf } from '../../../backend/types';

interface BatchMatrix {
  buf: (i: number) => Buf;
  trans: boolean;
  ld: number;
}

/** How batch i of a 3-D tensor feeds gemm without a copy (null: it needs one). A batch of 1 broadcasts. */
function batchLayout(t: Tensor): BatchMatrix | null {
  const [batch, rows, cols] = t.shape;
  const [s0, s1, s2] = t.strides;
  const at = (i: number): Buf => ({ storage: t.storage, offset: t.offset + (batch === 1 ? 0 : i * s0) });
  if ((s2 === 1 || cols === 1) && s1 >= cols) return { buf: at, trans: false, ld: Math.max(s1, cols, 1) };
  if ((s1 === 1 || rows === 1) && s2 >= rows) return { buf: at, trans: true, ld: Math.max(s2, rows, 1) };
  return null;
}

/** out[i] (+)= a[i] b[i] with raw gemms (no recording); `accumulate` sums every batch into out[0]. */
function bmmInto(a: Tensor, b: Tensor, out: Tensor, batches: number, accumulate: boolean): void {
  const be = backendFor(out, 'bmm');
  const ac = batchLayout(a) ? a : a.copyPacked();
  const bc = batchLayout(b) ? b : b.copyPacked();
  try {
    const la = batchLayout(ac)!, lb = batchLayout(bc)!;
    const [, m, k] = ac.shape;
    const n = bc.shape[2];
    for (let i = 0; i < batches; i++) {
      be.gemm({ transA: la.trans, transB: lb.trans, m, n, k, alpha: 1, a: la.buf(i), lda: la.ld, b: lb.buf(i), ldb: lb.ld,
        beta: accumulate && i > 0 ? 1 : 0, c: { storage: out.storage, offset: out.offset + (accumulate ? 0 : i * m * n) }, ldc: Math.max(n, 1), bias: null });
    }
  } finally {
    if (ac !== a) ac.dispose();
    if (bc !== b) bc.dispose();
  }
}

/** a [B, M, K] x b [B, K, N] (or b [1, K, N], shared by every batch) -> [B, M, N], differentiable in both. */
export function bmm(a: Tensor, b: Tensor): Tensor {
  backendFor(a, 'bmm');
  backendFor(b, 'bmm');
  if (a.rank !== 3 || b.rank !== 3 || a.shape[2] !== b.shape[1] || (b.shape[0] !== a.shape[0] && b.shape[0] !== 1))
    throw new RangeError(`bmm: expected a [B, M, K] and b [B or 1, K, N], got a [${a.shape.join(', ')}] and b [${b.shape.join(', ')}]`);
  const [batches, m] = a.shape;
  const n = b.shape[2];
  const out = empty([batches, m, n]);
  bmmInto(a, b, out, batches, false);
  const aShape = [...a.shape], bShape = [...b.shape];
  const shared = bShape[0] === 1 && batches !== 1;
  return record(out, 'bmm', [a, b], (g, [as, bs], needs) => {
    const da = needs[0] ? empty(aShape) : null, db = needs[1] ? empty(bShape) : null;
    if (da) bmmInto(g, bs.transpose(1, 2), da, batches, false);
    if (db) bmmInto(as.transpose(1, 2), g, db, batches, shared);
    return [da, db];
  }, [b.requiresGrad ? a : null, a.requiresGrad ? b : null]);
}

/** [count, n, n] identities (a constant). */
export function eyeBatch(count: number, n: number): Tensor {
  const v = new Float32Array(count * n * n);
  for (let c = 0; c < count; c++) for (let i = 0; i < n; i++) v[c * n * n + i * n + i] = 1;
  return noGrad(() => fromArray(v, [count, n, n]));
}

/**
 * OFT's _pytorch_skew_symmetric: vec [B, bs (bs - 1) / 2] holds each block's strict upper triangle in
 * torch.triu_indices(bs, bs, 1) order (row 0's columns 1..bs-1, then row 1's, ...); Q = U - U^T.
 */
export function skewFromUpper(vec: Tensor, bs: number): Tensor {
  const rows = vec.shape[0];
  const z = noGrad(() => zeros([rows, bs]));
  const pieces: Tensor[] = [];
  let at = 0;
  for (let i = 0; i < bs; i++) {
    pieces.push(z.slice(1, 0, i + 1));
    const len = bs - 1 - i;
    if (len > 0) pieces.push(vec.slice(1, at, at + len));
    at += len;
  }
  const flat = concat(pieces, 1);
  const u = flat.reshape([rows, bs, bs]);
  const q = sub(u, u.transpose(1, 2));
  for (const t of [...pieces, z, flat, u]) t.dispose();
  return q;
}

/** The strict upper triangles of skew matrices [B, bs, bs] given on the host, as OFT stores them. */
export function upperOf(q: Float32Array, batches: number, bs: number): Float32Array {
  const n = (bs * (bs - 1)) / 2;
  const out = new Float32Array(batches * n);
  for (let b = 0; b < batches; b++) {
    let k = 0;
    for (let i = 0; i < bs; i++) for (let j = i + 1; j < bs; j++) out[b * n + k++] = q[b * bs * bs + i * bs + j];
  }
  return out;
}

/**
 * OFT's _cayley_batch with use_cayley_neumann (the default): HF's loop as written, R = I + 2Q, then + 2Q^2,
 * + 2Q^k for k = 3 .. terms - 2, and + Q^(terms - 1) (so 3 and 4 terms give the same I + 2Q + 2Q^2 + Q^3).
 */
export function cayleyNeumann(q: Tensor, terms: number): Tensor {
  const [batches, bs] = q.shape;
  const eye = eyeBatch(batches, bs);
  if (terms <= 1) return eye;
  const live: Tensor[] = [eye];
  const keepT = <T extends Tensor>(t: T): T => (live.push(t), t);
  let r = keepT(add(eye, keepT(scale(q, 2))));
  if (terms > 2) {
    const q2 = keepT(bmm(q, q));
    r = keepT(add(r, keepT(scale(q2, 2))));
    let power = q2;
    for (let i = 3; i < terms - 1; i++) {
      power = keepT(bmm(power, q));
      r = keepT(add(r, keepT(scale(power, 2))));
    }
    power = keepT(bmm(power, q));
    r = add(r, power);
  }
  for (const t of live) if (t !== r) t.dispose();
  return r;
}

/** Inverses of [B, n, n] matrices given on the host (float64 Gauss-Jordan, partial pivoting). */
export function invertBlocks(values: Float32Array, batches: number, n: number, what: string): Float64Array {
  const out = new Float64Array(batches * n * n);
  const a = new Float64Array(n * 2 * n);
  for (let b = 0; b < batches; b++) {
    const base = b * n * n;
    a.fill(0);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) a[i * 2 * n + j] = values[base + i * n + j];
      a[i * 2 * n + n + i] = 1;
    }
    for (let c = 0; c < n; c++) {
      let p = c;
      for (let r = c + 1; r < n; r++) if (Math.abs(a[r * 2 * n + c]) > Math.abs(a[p * 2 * n + c])) p = r;
      const pivot = a[p * 2 * n + c];
      if (pivot === 0 || !Number.isFinite(pivot)) throw new RangeError(`${what}: block ${b} is singular, it has no inverse`);
      if (p !== c) for (let j = 0; j < 2 * n; j++) [a[p * 2 * n + j], a[c * 2 * n + j]] = [a[c * 2 * n + j], a[p * 2 * n + j]];
      for (let j = 0; j < 2 * n; j++) a[c * 2 * n + j] /= pivot;
      for (let r = 0; r < n; r++) {
        if (r === c) continue;
        const f = a[r * 2 * n + c];
        if (f !== 0) for (let j = 0; j < 2 * n; j++) a[r * 2 * n + j] -= f * a[c * 2 * n + j];
      }
    }
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) out[base + i * n + j] = a[i * 2 * n + n + j];
  }
  return out;
}

/** The inverse of each block of m [B, n, n] (a constant: for unmerging). */
export function batchedInverse(m: Tensor, what: string): Tensor {
  const [batches, n] = m.shape;
  const inv = invertBlocks(m.toFloat32Array(), batches, n, what);
  return noGrad(() => fromArray(Float32Array.from(inv), [batches, n, n]));
}

/**
 * The exact Cayley map of skew matrices s [B, H, H]: (I - S)(I + S)^-1, as torch.linalg.solve(I + S, I - S,
 * left=False) (OFT with use_cayley_neumann false; BOFT always), differentiable in s.
 */
export function cayleyExact(s: Tensor): Tensor {
  const [batches, h] = s.shape;
  const sv = s.toFloat32Array();
  const a = new Float32Array(sv.length);
  for (let i = 0; i < sv.length; i++) a[i] = sv[i];
  for (let b = 0; b < batches; b++) for (let i = 0; i < h; i++) a[b * h * h + i * h + i] += 1;
  const inv = invertBlocks(a, batches, h, 'Cayley map (I + S)');
  const r = new Float32Array(inv.length);
  for (let b = 0; b < batches; b++)
    for (let i = 0; i < h; i++) for (let j = 0; j < h; j++) {
      const k = b * h * h + i * h + j;
      r[k] = 2 * inv[k] - (i === j ? 1 : 0);
    }
  const out = noGrad(() => fromArray(r, [batches, h, h]));
  if (!s.requiresGrad) return out;
  const ainv = noGrad(() => fromArray(Float32Array.from(inv), [batches, h, h]));
  const result = record(out, 'cayley', [s], (g, [ai]) => {
    // dS = -2 A^-T G A^-T
    const at = ai.transpose(1, 2);
    const left = bmm(at, g);
    const both = bmm(left, at);
    const ds = scale(both, -2);
    for (const t of [at, left, both]) t.dispose();
    return [ds];
  }, [ainv]);
  ainv.dispose();  // the node keeps its own view of it
  return result;
}
