/**
 * The reference diff-pruning kernels: the gate math as plain loops over any float array, and the js
 * backend's kernels over it.
 */
import { type Arr, alloc, at, put, sigmoid, streamUniform } from '../reference_helpers';
import type { DiffPruneKernels, GateOptions } from './kernel';

/**
 * The gate z for one parameter and dz / dlog_alpha. Training draws u ~ U(0, 1) from (seed, index);
 * eval uses the deterministic s = sigmoid(log_alpha).
 */
export function hardConcreteGate(logAlpha: number, training: boolean, seed: number, index: number, g: GateOptions): { z: number; dz: number } {
  let s: number;
  let dsdla: number;
  if (training) {
    // u in (0, 1): the native kernel nudges the 24-bit uniform off 0 the same way.
    const u = (Math.floor(streamUniform(seed, index) * 16777216) + 0.5) / 16777216;
    s = sigmoid((Math.log(u) - Math.log(1 - u) + logAlpha) / g.beta);
    dsdla = (s * (1 - s)) / g.beta;
  } else {
    s = sigmoid(logAlpha);
    dsdla = s * (1 - s);
  }
  const raw = s * (g.zeta - g.gamma) + g.gamma;
  if (raw <= 0) return { z: 0, dz: 0 };
  if (raw >= 1) return { z: 1, dz: 0 };
  return { z: raw, dz: (g.zeta - g.gamma) * dsdla };
}

/** The expected L0 norm's per-parameter term and its derivative in log_alpha. */
export function l0Penalty(logAlpha: number, g: GateOptions): { value: number; grad: number } {
  const s = sigmoid(logAlpha - g.beta * Math.log(-g.gamma / g.zeta));
  return { value: s, grad: s * (1 - s) };
}

export interface DiffPruneInputs {
  n: number;
  w: Arr;          // frozen base values
  delta: Arr;      // the trained difference
  logAlpha: Arr;   // one per parameter, or one for the whole tensor (structured gate)
  training: boolean;
  seed: number;
  gate: GateOptions;
}

/** W' = W + z * delta, and the penalty sum of the expected-L0 terms. */
export function diffPruneForward(p: DiffPruneInputs): { wOut: Arr; z: Arr; penalty: number } {
  const wOut = alloc(p.w, p.n), z = alloc(p.w, p.n);
  const structured = p.logAlpha.length === 1;
  // A structured gate is one draw for the whole tensor.
  const shared = structured ? hardConcreteGate(p.logAlpha[0], p.training, p.seed, 0, p.gate) : null;
  let penalty = 0;
  for (let i = 0; i < p.n; i++) {
    const la = p.logAlpha[structured ? 0 : i];
    const gate = shared ?? hardConcreteGate(la, p.training, p.seed, i, p.gate);
    z[i] = gate.z;
    wOut[i] = p.w[i] + gate.z * p.delta[i];
    if (!structured || i === 0) penalty += l0Penalty(la, p.gate).value;
  }
  return { wOut, z, penalty };
}

/**
 * dz/dlog_alpha from the gate alone: a z inside (0, 1) is s (zeta - gamma) + gamma unclamped, so
 * (zeta - gamma) s (1 - s) / beta = (z - gamma)(zeta - z) / ((zeta - gamma) beta); beta is 1 in eval mode.
 */
export function gateSlopeFromZ(z: number, training: boolean, g: GateOptions): number {
  return z > 0 && z < 1 ? ((z - g.gamma) * (g.zeta - z)) / ((g.zeta - g.gamma) * (training ? g.beta : 1)) : 0;
}

/**
 * dDelta = dW' * z; dLogAlpha = dW' * delta * dz/dla + lambda * dPenalty/dla (summed for a structured gate).
 * gates: the forward's z, when kept (a per-parameter gate then needs no redraw).
 */
export function diffPruneBackward(p: DiffPruneInputs, dW: Arr, lambda: number, gates: Arr | null = null): { dDelta: Arr; dLogAlpha: Arr } {
  const structured = p.logAlpha.length === 1;
  const dDelta = alloc(dW, p.n), dLogAlpha = alloc(dW, p.logAlpha.length);
  const shared = structured ? hardConcreteGate(p.logAlpha[0], p.training, p.seed, 0, p.gate) : null;
  for (let i = 0; i < p.n; i++) {
    const j = structured ? 0 : i;
    const gate = shared ?? (gates ? { z: gates[i], dz: gateSlopeFromZ(gates[i], p.training, p.gate) } : hardConcreteGate(p.logAlpha[j], p.training, p.seed, i, p.gate));
    dDelta[i] = dW[i] * gate.z;
    dLogAlpha[j] += dW[i] * p.delta[i] * gate.dz;
  }
  for (let j = 0; j < dLogAlpha.length; j++) dLogAlpha[j] += lambda * l0Penalty(p.logAlpha[j], p.gate).grad;
  return { dDelta, dLogAlpha };
}

/** The js backend's kernels: the math above on float32 storage. */
export const jsDiffPruneKernels: DiffPruneKernels = {
  diffPruneForward(p) {
    const o = diffPruneForward({
      n: p.n, w: at(p.w), delta: at(p.delta), logAlpha: at(p.logAlpha).subarray(0, p.logAlphaLength),
      training: p.training, seed: p.seed, gate: p.gate,
    });
    put(p.wOut, o.wOut);
    put(p.z, o.z);
    return o.penalty;
  },

  diffPruneBackward(p) {
    const g = diffPruneBackward({
      n: p.n, w: at(p.dw), delta: at(p.delta), logAlpha: at(p.logAlpha).subarray(0, p.logAlphaLength),
      training: p.training, seed: p.seed, gate: p.gate,
    }, at(p.dw).subarray(0, p.n), p.lambda, p.gates ? at(p.gates).subarray(0, p.n) : null);
    put(p.dDelta, g.dDelta);
    put(p.dLogAlpha, g.dLogAlpha);
  },

  projectTopK({ v, n, keep }) {
    const values = at(v).subarray(0, n);
    if (keep >= n) return 0;
    const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => Math.abs(values[j]) - Math.abs(values[i]) || i - j);
    const threshold = keep > 0 ? Math.abs(values[order[keep - 1]]) : Infinity;
    for (let q = keep; q < n; q++) values[order[q]] = 0;
    return threshold;
  },
};
