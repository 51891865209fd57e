/**
 * The diff-pruning kernels (hard-concrete gates, Louizos et al.) and the top-k projection: what every
 * backend implements and the argument checks every backend runs before them (diff_prune_binding.cc keeps
 * the same checks and messages).
 */
import type { ArgChecks, KernelChecks } from '../../backend/checks';
import type { Buf } from '../../backend/types';

/** The hard-concrete gate's stretch (gamma < 0, zeta > 1) and temperature beta. */
export interface GateOptions {
  gamma: number;
  zeta: number;
  beta: number;
}

/** The diff-pruning paper's defaults. */
export const DEFAULT_GATE: GateOptions = Object.freeze({ gamma: -1.5, zeta: 1.5, beta: 1 });

export interface DiffPruneParams {
  n: number;
  delta: Buf;
  logAlpha: Buf;
  /** 1 for a structured (per-tensor) gate, else n. */
  logAlphaLength: number;
  training: boolean;
  seed: number;
  gate: GateOptions;
}

export interface DiffPruneKernels {
  /** W' = W + z * delta; returns the expected-L0 penalty. */
  diffPruneForward(p: DiffPruneParams & { w: Buf; wOut: Buf; z: Buf | null }): number;
  /** gates: the forward's z for the same arguments, when kept (the backward then regenerates nothing). */
  diffPruneBackward(p: DiffPruneParams & { dw: Buf; lambda: number; dDelta: Buf; dLogAlpha: Buf; gates?: Buf | null }): void;
  /** Zeroes all but the `keep` largest-magnitude entries; returns the threshold. */
  projectTopK(p: { v: Buf; n: number; keep: number }): number;
}

/** What both diff-pruning directions share: n, one or n gate logits, training, seed, gate bounds, delta. */
function common(p: DiffPruneParams, c: ArgChecks): void {
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

export const diffPruneChecks: KernelChecks<DiffPruneKernels> = {
  diffPruneForward(p, c) {
    common(p, c);
    c.buf('w', p.w, p.n);
    c.buf('wOut', p.wOut, p.n);
    c.optBuf('z', p.z, p.n);
  },

  diffPruneBackward(p, c) {
    common(p, c);
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
};
