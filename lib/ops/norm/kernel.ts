/**
 * RMSNorm and LayerNorm over the last dimension of [rows, cols]: what every backend implements and the
 * argument checks every backend runs before them (norm_binding.cc keeps the same checks and messages for
 * callers that reach the addon directly).
 */
import type { ArgChecks, KernelChecks } from '../../backend/checks';
import type { Buf } from '../../backend/types';

export interface NormParams {
  rows: number;
  cols: number;
  x: Buf;
  /** [cols], or null for no elementwise affine weight. */
  weight: Buf | null;
  eps: number;
}

export interface NormKernels {
  /** y = x / sqrt(mean(x^2) + eps) * weight per row; rstd[r] = 1 / sqrt(mean(x^2) + eps). */
  rmsNormForward(p: NormParams & { y: Buf; rstd: Buf }): void;
  /** dx, and dweight (written, not accumulated) when not null. */
  rmsNormBackward(p: NormParams & { rstd: Buf; dy: Buf; dx: Buf; dweight: Buf | null }): void;
  /** y = (x - mean) * rstd * weight + bias per row; saves mean and rstd [rows]. */
  layerNormForward(p: NormParams & { bias: Buf | null; y: Buf; mean: Buf; rstd: Buf }): void;
  layerNormBackward(p: NormParams & { mean: Buf; rstd: Buf; dy: Buf; dx: Buf; dweight: Buf | null; dbias: Buf | null }): void;
}

/** A setting that must be finite and >= 0 (a norm's eps). */
function nonNegative(c: ArgChecks, name: string, v: unknown): number {
  const d = c.number(name, v);
  if (!(d >= 0) || !Number.isFinite(d)) c.fail(`${name} must be finite and >= 0, got ${d}`);
  return d;
}

/** What every norm shares: rows, cols >= 1, eps, x [rows, cols], weight [cols] | null. */
function normCommon(p: NormParams, c: ArgChecks): { rows: number; cols: number; n: number } {
  const rows = c.dim('rows', p.rows), cols = c.dim('cols', p.cols);
  if (cols === 0) c.fail('cols must be at least 1');
  nonNegative(c, 'eps', p.eps);
  const n = c.mul(rows, cols);
  c.buf('x', p.x, n);
  c.optBuf('weight', p.weight, cols);
  return { rows, cols, n };
}

export const normChecks: KernelChecks<NormKernels> = {
  rmsNormForward(p, c) {
    const { rows, n } = normCommon(p, c);
    c.buf('y', p.y, n);
    c.buf('rstd', p.rstd, rows);
  },

  rmsNormBackward(p, c) {
    const { rows, cols, n } = normCommon(p, c);
    c.buf('rstd', p.rstd, rows);
    c.buf('dy', p.dy, n);
    c.buf('dx', p.dx, n);
    c.optBuf('dweight', p.dweight, cols);
  },

  layerNormForward(p, c) {
    const { rows, cols, n } = normCommon(p, c);
    c.optBuf('bias', p.bias, cols);
    c.buf('y', p.y, n);
    c.buf('mean', p.mean, rows);
    c.buf('rstd', p.rstd, rows);
  },

  layerNormBackward(p, c) {
    const { rows, cols, n } = normCommon(p, c);
    c.buf('mean', p.mean, rows);
    c.buf('rstd', p.rstd, rows);
    c.buf('dy', p.dy, n);
    c.buf('dx', p.dx, n);
    c.optBuf('dweight', p.dweight, cols);
    c.optBuf('dbias', p.dbias, cols);
  },
};
