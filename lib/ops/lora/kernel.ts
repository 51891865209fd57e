/**
 * The fused LoRA linear kernels: what every backend implements (the params) and the argument checks every
 * backend runs before them (the addon's lora_binding.cc keeps the same checks, with the same messages,
 * for callers that reach it directly). Shapes: x [T, K], W [N, K], bias [N], A [r, K], B [N, r].
 */
import type { ArgChecks, KernelChecks } from '../../backend/checks';
import type { Buf } from '../../backend/types';

export interface LoraParams {
  T: number; K: number; N: number; r: number;
  x: Buf;
  /** null: y (forward) or dx (backward) already holds the base term; only the adapter's part is added. */
  w: Buf | null;
  a: Buf;
  b: Buf;
  scale: number;
  dropout: number;
  seed: number;
  /** The batch row of x's first row (the dropout mask is indexed by batch position). */
  rowOffset: number;
}

export interface LoraForwardParams extends LoraParams {
  bias: Buf | null;
  u: Buf;
  y: Buf;
}

export interface LoraBackwardParams extends LoraParams {
  u: Buf;
  dy: Buf;
  dx: Buf | null;
  da: Buf;
  db: Buf;
  dbias: Buf | null;
}

export interface LoraKernels {
  /** y = x W^T + bias + s (drop(x) A^T) B^T in one pass; u = drop(x) A^T is kept for the backward. */
  loraForward(p: LoraForwardParams): void;
  /** dA, dB, dx = dy W + g A (g = s dy B) and dbias in one pass over dy; W never gets a gradient. */
  loraBackward(p: LoraBackwardParams): void;
}

/** What both directions share: sizes, rank >= 1, scale, dropout in [0, 1), seed, row offset, x, W, A, B. */
function common(p: LoraParams, c: ArgChecks): void {
  const T = c.dim('T', p.T), K = c.dim('K', p.K), N = c.dim('N', p.N), r = c.dim('r', p.r);
  if (r === 0) c.fail('rank r must be at least 1');
  c.number('scale', p.scale);
  const dropout = c.number('dropout', p.dropout);
  if (!(dropout >= 0 && dropout < 1)) c.fail(`dropout must be in [0, 1), got ${dropout}`);
  c.dim('seed', p.seed);
  c.dim('rowOffset', p.rowOffset);
  c.buf('x', p.x, c.mul(T, K));
  c.optBuf('w', p.w, c.mul(N, K));
  c.buf('a', p.a, c.mul(r, K));
  c.buf('b', p.b, c.mul(N, r));
}

export const loraChecks: KernelChecks<LoraKernels> = {
  loraForward(p, c) {
    common(p, c);
    c.optBuf('bias', p.bias, p.N);
    if (p.bias && !p.w) c.fail('bias is given without w (the bias belongs to the base layer)');
    c.buf('u', p.u, c.mul(p.T, p.r));
    c.buf('y', p.y, c.mul(p.T, p.N));
  },

  loraBackward(p, c) {
    common(p, c);
    c.buf('u', p.u, c.mul(p.T, p.r));
    c.buf('dy', p.dy, c.mul(p.T, p.N));
    c.optBuf('dx', p.dx, c.mul(p.T, p.K));
    c.buf('da', p.da, c.mul(p.r, p.K));
    c.buf('db', p.db, c.mul(p.N, p.r));
    c.optBuf('dbias', p.dbias, p.N);
  },
};
