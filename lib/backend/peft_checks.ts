/** The PEFT kernels' argument checks (see checks.ts), the same for every backend. */
import type { ArgChecks, KernelCheck } from './checks';
import type { DiffPruneParams, Ia3Params, LoraParams, PeftKernels } from './types';

type Checks = { [K in keyof PeftKernels]: KernelCheck<Parameters<PeftKernels[K]>[0]> };

/** What both LoRA directions share: sizes, rank >= 1, scale, dropout in [0, 1), seed, row offset, x, W, A, B. */
function loraCommon(p: LoraParams, c: ArgChecks): void {
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

/** What both IA3 directions share: the mode, sizes, x, W, and l ([N] scaling outputs, [K] inputs). */
function ia3Common(p: Ia3Params, c: ArgChecks): void {
  const mode = c.oneOf('mode', p.mode, ['output', 'input'] as const);
  const T = c.dim('T', p.T), K = c.dim('K', p.K), N = c.dim('N', p.N);
  c.buf('x', p.x, c.mul(T, K));
  c.buf('w', p.w, c.mul(N, K));
  c.buf('l', p.l, mode === 'output' ? N : K);
}

/** What both diff-pruning directions share: n, one or n gate logits, training, seed, gate bounds, delta. */
function diffPruneCommon(p: DiffPruneParams, c: ArgChecks): void {
  const n = c.dim('n', p.n), gates = c.dim('logAlphaLength', p.logAlphaLength);
  if (gates !== 1 && gates !== n) c.fail(`logAlphaLength must be 1 (structured) or n = ${n}, got ${gates}`);
  c.boolean('training', p.training);
  c.dim('seed', p.seed);
  if (typeof p.gate !== 'object' || p.gate === null) c.failType(`argument 'gate' must be an object, got ${String(p.gate)}`);
  const gamma = c.number('gate.gamma', p.gate.gamma), zeta = c.number('gate.zeta', p.gate.zeta), beta = c.number('gate.beta', p.gate.beta);
  if (!(gamma < 0 && zeta > 1 && beta > 0)) c.fail(`gate needs gamma < 0, zeta > 1 and beta > 0, got gamma ${gamma}, zeta ${zeta}, beta ${beta}`);
  c.buf('delta', p.delta, n);
  c.buf('logAlpha', p.logAlpha, gates);
}

export const peftChecks: Checks = {
  loraForward(p, c) {
    loraCommon(p, c);
    c.optBuf('bias', p.bias, p.N);
    if (p.bias && !p.w) c.fail('bias is given without w (the bias belongs to the base layer)');
    c.buf('u', p.u, c.mul(p.T, p.r));
    c.buf('y', p.y, c.mul(p.T, p.N));
  },

  loraBackward(p, c) {
    loraCommon(p, c);
    c.buf('u', p.u, c.mul(p.T, p.r));
    c.buf('dy', p.dy, c.mul(p.T, p.N));
    c.optBuf('dx', p.dx, c.mul(p.T, p.K));
    c.buf('da', p.da, c.mul(p.r, p.K));
    c.buf('db', p.db, c.mul(p.N, p.r));
    c.optBuf('dbias', p.dbias, p.N);
  },

  ia3Forward(p, c) {
    ia3Common(p, c);
    c.optBuf('bias', p.bias, p.N);
    c.buf('y', p.y, c.mul(p.T, p.N));
    c.optBuf('yPre', p.yPre, c.mul(p.T, p.N));
  },

  ia3Backward(p, c) {
    ia3Common(p, c);
    c.buf('dy', p.dy, c.mul(p.T, p.N));
    const pre = c.optBuf('yPre', p.yPre, c.mul(p.T, p.N));
    if (p.mode === 'output' && pre === null) c.fail('output scaling needs yPre (the unscaled output) for dl');
    c.optBuf('dx', p.dx, c.mul(p.T, p.K));
    c.buf('dl', p.dl, p.mode === 'output' ? p.N : p.K);
  },

  diffPruneForward(p, c) {
    diffPruneCommon(p, c);
    c.buf('w', p.w, p.n);
    c.buf('wOut', p.wOut, p.n);
    c.optBuf('z', p.z, p.n);
  },

  diffPruneBackward(p, c) {
    diffPruneCommon(p, c);
    c.number('lambda', p.lambda);
    c.buf('dw', p.dw, p.n);
    c.buf('dDelta', p.dDelta, p.n);
    c.buf('dLogAlpha', p.dLogAlpha, p.logAlphaLength);
    c.optBuf('gates', p.gates, p.n);
  },

  projectTopK(p, c) {
    const n = c.dim('n', p.n);
    c.dim('keep', p.keep);
    c.buf('v', p.v, n);
  },

  bitfitBackward(p, c) {
    const T = c.dim('T', p.T), K = c.dim('K', p.K), N = c.dim('N', p.N);
    c.buf('dy', p.dy, c.mul(T, N));
    c.buf('w', p.w, c.mul(N, K));
    c.optBuf('dx', p.dx, c.mul(T, K));
    c.buf('dbias', p.dbias, N);
  },
};
