/**
 * Scaled dot-product attention on the backend's fused kernel: q [B, Tq, Hq * D], k and v [B, Tk, Hkv * D]
 * (token rows may be strided, e.g. column slices of one fused qkv). Causal masking, sliding windows, logit
 * soft-capping, key padding masks and grouped-query heads; no [Tq, Tk] matrix per head is kept, only each query's log-sum-exp.
 */
import type { HeadsView } from './kernel';
import { record } from '../../tensor/autograd';
import { empty } from '../../tensor/creation';
import { kernel } from '../../tensor/kernel_lookup';
import { formatShape } from '../../tensor/shape';
import { backendFor, type Tensor } from '../../tensor/tensor';

export interface AttentionOptions {
  qHeads: number;
  kvHeads?: number;
  causal: boolean;
  /** [B * Tk] int: 0 hides a key (padding); null or absent attends to every key. */
  keyMask?: Int32Array | null;
  /** Defaults to 1 / sqrt(headDim). */
  scale?: number;
  /** Sliding window (HF's sliding_window): query i sees keys j > i + (Tk - Tq) - window. 0 or absent: none. */
  window?: number;
  /** Logit soft-capping: scores become softcap * tanh(scores / softcap) before the softmax. 0 or absent: none. */
  softcap?: number;
}

function headsView(op: string, name: string, t: Tensor, batch: number, tokens: number, width: number): HeadsView {
  if (t.rank !== 3 || t.shape[0] !== batch || t.shape[1] !== tokens || t.shape[2] !== width)
    throw new RangeError(`${op}: ${name} must be [${batch}, ${tokens}, ${width}], got ${formatShape(t.shape)}`);
  const [sb, st, sc] = t.strides;
  if (sc !== 1 && width > 1) throw new RangeError(`${op}: ${name}'s last dimension must be contiguous`);
  if (batch > 1 && sb !== tokens * st) throw new RangeError(`${op}: ${name}'s batches must follow one another (stride ${sb}, expected ${tokens * st})`);
  return { buf: t.buf(op), rowStride: tokens > 1 || batch > 1 ? st : width };
}

export function attention(q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions): Tensor {
  const op = 'attention';
  const be = backendFor(q, op);
  backendFor(k, op);
  backendFor(v, op);
  if (q.rank !== 3 || k.rank !== 3) throw new RangeError(`${op}: q and k must be [B, T, H * D], got ${formatShape(q.shape)} and ${formatShape(k.shape)}`);
  const [batch, tq, qWidth] = q.shape;
  const tk = k.shape[1];
  const qHeads = opts.qHeads, kvHeads = opts.kvHeads ?? opts.qHeads;
  if (!Number.isInteger(qHeads) || qHeads < 1 || qWidth % qHeads !== 0)
    throw new RangeError(`${op}: q's width ${qWidth} must split into qHeads = ${qHeads} heads`);
  const headDim = qWidth / qHeads;
  if (!Number.isInteger(kvHeads) || kvHeads < 1 || qHeads % kvHeads !== 0)
    throw new RangeError(`${op}: kvHeads (${kvHeads}) must divide qHeads (${qHeads})`);
  const kvWidth = kvHeads * headDim;
  const base = {
    batch, tq, tk, qHeads, kvHeads, headDim, scale: opts.scale ?? 1 / Math.sqrt(headDim), causal: opts.causal,
    keyMask: opts.keyMask ?? null, window: opts.window ?? 0, softcap: opts.softcap ?? 0,
    q: headsView(op, 'q', q, batch, tq, qWidth), k: headsView(op, 'k', k, batch, tk, kvWidth), v: headsView(op, 'v', v, batch, tk, kvWidth),
  };
  if (base.keyMask && base.keyMask.length !== batch * tk)
    throw new RangeError(`${op}: keyMask has ${base.keyMask.length} entries, expected B * Tk = ${batch * tk}`);
  const out = empty([batch, tq, qWidth]);
  const lse = empty([batch, qHeads, tq]);
  kernel(be, 'attentionForward', op)({ ...base, out: out.buf(), lse: lse.buf() });
  const result = record(out, op, [q, k, v], (g, [qs, ks, vs, os, ls]) => {
    const gc = g.isContiguous() ? g : g.copyPacked();
    const dq = empty([batch, tq, qWidth]), dk = empty([batch, tk, kvWidth]), dv = empty([batch, tk, kvWidth]);
    kernel(be, 'attentionBackward', op)({
      ...base, q: headsView(op, 'q', qs, batch, tq, qWidth), k: headsView(op, 'k', ks, batch, tk, kvWidth), v: headsView(op, 'v', vs, batch, tk, kvWidth),
      out: os.buf(), lse: ls.buf(), dout: gc.buf(),
      dq: { buf: dq.buf(), rowStride: qWidth }, dk: { buf: dk.buf(), rowStride: kvWidth }, dv: { buf: dv.buf(), rowStride: kvWidth },
    });
    if (gc !== g) gc.dispose();
    return [dq, dk, dv];
  }, [q, k, v, out, lse]);
  lse.dispose();
  return result;
}
