/**
 * The (IA)3 kernels: what every backend implements and the argument checks every backend runs before them
 * (ia3_binding.cc keeps the same checks and messages). Shapes: x [T, K], W [N, K], bias [N], l [N] for
 * output scaling or [K] for input scaling.
 */
import type { ArgChecks, KernelChecks } from '../../backend/checks';
import type { Buf } from '../../backend/types';

/** 'output': y = (x W^T + b) * l (k_proj, v_proj); 'input': y = (x * l) W^T + b (the FFN's down projection). */
export type Ia3Mode = 'output' | 'input';

export interface Ia3Params {
  mode: Ia3Mode;
  T: number; K: number; N: number;
  x: Buf; w: Buf;
  /** [N] for output scaling, [K] for input scaling. */
  l: Buf;
}

export interface Ia3Kernels {
  /** y, and yPre = the unscaled output when not null (output mode's dl needs it). */
  ia3Forward(p: Ia3Params & { bias: Buf | null; y: Buf; yPre: Buf | null }): void;
  /** dx (when not null) and dl; output mode reads yPre. */
  ia3Backward(p: Ia3Params & { dy: Buf; yPre: Buf | null; dx: Buf | null; dl: Buf }): void;
}

/** What both IA3 directions share: the mode, sizes, x, W, and l ([N] scaling outputs, [K] inputs). */
function common(p: Ia3Params, c: ArgChecks): void {
  const mode = c.oneOf('mode', p.mode, ['output', 'input'] as const);
  const T = c.dim('T', p.T), K = c.dim('K', p.K), N = c.dim('N', p.N);
  c.buf('x', p.x, c.mul(T, K));
  c.buf('w', p.w, c.mul(N, K));
  c.buf('l', p.l, mode === 'output' ? N : K);
}

export const ia3Checks: KernelChecks<Ia3Kernels> = {
  ia3Forward(p, c) {
    common(p, c);
    c.optBuf('bias', p.bias, p.N);
    c.buf('y', p.y, c.mul(p.T, p.N));
    c.optBuf('yPre', p.yPre, c.mul(p.T, p.N));
  },

  ia3Backward(p, c) {
    common(p, c);
    c.buf('dy', p.dy, c.mul(p.T, p.N));
    const pre = c.optBuf('yPre', p.yPre, c.mul(p.T, p.N));
    if (p.mode === 'output' && pre === null) c.fail('output scaling needs yPre (the unscaled output) for dl');
    c.optBuf('dx', p.dx, c.mul(p.T, p.K));
    c.buf('dl', p.dl, p.mode === 'output' ? p.N : p.K);
  },
};
