/**
 * Fused attention: what every backend implements (the params) and the argument checks every backend runs
 * before it (see lib/backend/checks.ts), with the messages of csrc/binding/attention_binding.cc (which keeps them for callers that reach the addon directly). q, k,
 * v (and dq, dk, dv) are views {buf, rowStride}: each buffer must hold the elements its view spans,
 * (rows - 1) * rowStride + width, since the views may be column slices of one fused matrix.
 */
import { type ArgChecks, type KernelChecks, typeOf } from '../../backend/checks';
import type { Buf } from '../../backend/types';

/** Token-major layout [B, T, H, D] with a stride between tokens (so q, k, v may be column slices of one qkv). */
export interface HeadsView {
  buf: Buf;
  /** Elements between consecutive tokens (H * D when packed alone, 3 * Hq * D for a fused qkv). */
  rowStride: number;
}

export interface AttentionParams {
  batch: number;
  /** Queries per sequence. */
  tq: number;
  /** Keys per sequence (tk >= tq with a KV cache or key prefixes). */
  tk: number;
  qHeads: number;
  /** kvHeads divides qHeads: query head h reads key/value head h / (qHeads / kvHeads). */
  kvHeads: number;
  headDim: number;
  /** Usually 1 / sqrt(headDim). */
  scale: number;
  /** Query i (0-based) sees keys j <= i + (tk - tq). */
  causal: boolean;
  /**
   * Sliding window, 0 or absent = none: query i sees only keys j > i + (tk - tq) - window (HF's sliding_window,
   * transformers' masking_utils.sliding_window_overlay: kv_idx > q_idx - sliding_window with q_idx the query's
   * absolute position i + (tk - tq)), so at most `window` keys, itself included. A bound on top of causal and
   * the key mask (it applies without causal too).
   */
  window?: number;
  /**
   * Logit soft-capping, 0 or absent = none: each score s = scale * q.k becomes softcap * tanh(s / softcap)
   * before the mask and the softmax (Gemma 2's attn_logit_softcapping).
   */
  softcap?: number;
  /** [batch, tk]: 0 hides that key from every query of the sequence; null attends to every key. */
  keyMask: Int32Array | null;
  q: HeadsView;
  k: HeadsView;
  v: HeadsView;
}

/** Fused attention (its own group: a backend may have the model kernels without it). */
export interface AttentionKernels {
  /**
   * Fused scaled-dot-product attention without a [tq, tk] matrix per head held in memory:
   * out [B, tq, qHeads, headDim] (packed), lse [B, qHeads, tq] = log-sum-exp of each query's scores
   * (kept for the backward). A query that sees no key gets out = 0 and lse = -Infinity.
   */
  attentionForward(p: AttentionParams & { out: Buf; lse: Buf }): void;
  /** dq, dk, dv in the layouts of q, k, v (written, not accumulated; dk/dv sum over the query heads of a group). */
  attentionBackward(p: AttentionParams & { out: Buf; lse: Buf; dout: Buf; dq: HeadsView; dk: HeadsView; dv: HeadsView }): void;
}


/** A view {buf, rowStride} of `rows` rows `width` wide: the stride first, then the buffer against its span. */
function headsView(c: ArgChecks, name: string, v: unknown, rows: number, width: number, widthText: string): void {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || ArrayBuffer.isView(v)) {
    c.failType(`argument '${name}' must be an object, got ${typeOf(v)}`);
  }
  const view = v as { buf?: unknown; rowStride?: unknown };
  const stride = c.dim(`${name}.rowStride`, view.rowStride);
  if (stride < width) c.fail(`rowStride of '${name}' is ${stride}, expected at least ${widthText} = ${width}`);
  c.buf(`${name}.buf`, view.buf, rows === 0 ? 0 : c.mul(rows - 1, stride) + width);
}

/** What both directions share: sizes, head counts, scale, causal, window, softcap, keyMask, and the q, k, v views. */
function shared(p: AttentionParams, c: ArgChecks): { qw: number; kw: number; qrows: number; krows: number } {
  const batch = c.dim('batch', p.batch), tq = c.dim('tq', p.tq), tk = c.dim('tk', p.tk);
  const qHeads = c.dim('qHeads', p.qHeads), kvHeads = c.dim('kvHeads', p.kvHeads), headDim = c.dim('headDim', p.headDim);
  if (headDim === 0) c.fail('headDim must be at least 1, got 0');
  if (kvHeads === 0 || qHeads === 0 || qHeads % kvHeads !== 0) {
    c.fail(`kvHeads must be at least 1 and divide qHeads, got qHeads ${qHeads} and kvHeads ${kvHeads}`);
  }
  const scale = c.number('scale', p.scale);
  if (!Number.isFinite(scale)) c.fail(`scale must be finite, got ${scale}`);
  c.boolean('causal', p.causal);
  if (p.window !== undefined) c.dim('window', p.window);
  if (p.softcap !== undefined) {
    const cap = c.number('softcap', p.softcap);
    if (!(cap >= 0) || !Number.isFinite(cap)) c.fail(`softcap must be a finite number >= 0 (0: none), got ${cap}`);
  }
  const maskNeeded = c.mul(batch, tk);
  const mask: unknown = p.keyMask;
  if (mask !== null && mask !== undefined) {
    if (!(mask instanceof Int32Array)) c.failType(`argument 'keyMask' must be an Int32Array or null, got ${typeOf(mask)}`);
    if (mask.length < maskNeeded) c.fail(`argument 'keyMask' has ${mask.length} elements, expected at least batch * tk = ${maskNeeded}`);
  }
  const s = { qw: c.mul(qHeads, headDim), kw: c.mul(kvHeads, headDim), qrows: c.mul(batch, tq), krows: c.mul(batch, tk) };
  headsView(c, 'q', p.q, s.qrows, s.qw, 'qHeads * headDim');
  headsView(c, 'k', p.k, s.krows, s.kw, 'kvHeads * headDim');
  headsView(c, 'v', p.v, s.krows, s.kw, 'kvHeads * headDim');
  return s;
}

export const attentionChecks: KernelChecks<AttentionKernels> = {
  attentionForward(p, c) {
    const s = shared(p, c);
    c.buf('out', p.out, c.mul(s.qrows, s.qw));
    c.buf('lse', p.lse, c.mul(c.mul(p.batch, p.qHeads), p.tq));
  },

  attentionBackward(p, c) {
    const s = shared(p, c);
    const outLen = c.mul(s.qrows, s.qw);
    c.buf('out', p.out, outLen);
    c.buf('lse', p.lse, c.mul(c.mul(p.batch, p.qHeads), p.tq));
    c.buf('dout', p.dout, outLen);
    headsView(c, 'dq', p.dq, s.qrows, s.qw, 'qHeads * headDim');
    headsView(c, 'dk', p.dk, s.krows, s.kw, 'kvHeads * headDim');
    headsView(c, 'dv', p.dv, s.krows, s.kw, 'kvHeads * headDim');
  },
};
