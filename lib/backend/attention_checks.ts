/**
 * The attention kernels' argument checks (see checks.ts), the same for every backend, with the messages
 * of csrc/binding/attention_binding.cc (which keeps them for callers that reach the addon directly). q, k,
 * v (and dq, dk, dv) are views {buf, rowStride}: each buffer must hold the elements its view spans,
 * (rows - 1) * rowStride + width, since the views may be column slices of one fused matrix.
 */
import { type ArgChecks, type KernelCheck, typeOf } from './checks';
import type { AttentionKernels, AttentionParams } from './model_types';

type Checks = { [K in keyof AttentionKernels]: KernelCheck<Parameters<AttentionKernels[K]>[0]> };

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

/** What both directions share: sizes, head counts, scale, causal, keyMask, and the q, k, v views. */
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

export const attentionChecks: Checks = {
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
