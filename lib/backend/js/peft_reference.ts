/**
 * Reference math of the four PEFT kernels (docs/DESIGN.md, "The four PEFT kernels"), written as plain loops
 * over any float array so that the same code runs in float32 (the js backend) and float64 (the
 * finite-difference gradient checks). Shapes: x [T, K], W [N, K], b [N], A [r, K], B [N, r], dy [T, N].
 */
import { bitsToUniform, philox4x32 } from './philox';

export type Arr = Float32Array | Float64Array;
type Ctor = { new (n: number): Arr };

function alloc(like: Arr, n: number): Arr {
  return new (like.constructor as Ctor)(n);
}

/** The uniform in [0, 1) for element `index` of stream `seed`, as the native kernels draw it. */
export function streamUniform(seed: number, index: number): number {
  return bitsToUniform(philox4x32(Math.floor(index / 4), seed)[index % 4]);
}

/** Inverted dropout's factor for element `index`: 0 when dropped, 1 / (1 - p) when kept. */
export function dropoutFactor(seed: number, index: number, p: number): number {
  if (p === 0) return 1;
  return streamUniform(seed, index) >= p ? 1 / (1 - p) : 0;
}

/** C[m, n] = sum_k A[m, k] B[n, k] (both row-major, B "transposed" as in x W^T). */
function matmulNT(A: Arr, B: Arr, m: number, n: number, k: number, out: Arr): Arr {
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let q = 0; q < k; q++) s += A[i * k + q] * B[j * k + q];
      out[i * n + j] = s;
    }
  return out;
}

export interface LoraShapes {
  T: number;
  K: number;
  N: number;
  r: number;
}

export interface LoraForwardInputs extends LoraShapes {
  x: Arr; w: Arr; bias: Arr | null; a: Arr; b: Arr;
  scale: number;
  dropout: number;
  seed: number;
  /** Index of x's first row in the whole batch: the dropout mask of row t uses element (rowOffset + t) * K + k. */
  rowOffset?: number;
}

/** The dropped-out input drop(x) for the LoRA branch. */
export function loraDroppedInput(p: LoraForwardInputs): Arr {
  const { T, K, x, dropout, seed } = p;
  const off = (p.rowOffset ?? 0) * K;
  const out = alloc(x, T * K);
  for (let i = 0; i < T * K; i++) out[i] = x[i] * dropoutFactor(seed, off + i, dropout);
  return out;
}

/** y = x W^T + b + s (drop(x) A^T) B^T; u = drop(x) A^T is kept for the backward. */
export function loraForward(p: LoraForwardInputs): { y: Arr; u: Arr } {
  const { T, K, N, r, x, w, bias, a, b, scale } = p;
  const u = matmulNT(loraDroppedInput(p), a, T, r, K, alloc(x, T * r));
  const y = matmulNT(x, w, T, N, K, alloc(x, T * N));
  for (let t = 0; t < T; t++)
    for (let n = 0; n < N; n++) {
      let d = 0;
      for (let j = 0; j < r; j++) d += u[t * r + j] * b[n * r + j];
      y[t * N + n] += (bias ? bias[n] : 0) + scale * d;
    }
  return { y, u };
}

export interface LoraGrads { dx: Arr; da: Arr; db: Arr; dbias: Arr }

/**
 * The backward of loraForward given dy: dB = s dy^T u, g = s dy B, dA = g^T drop(x),
 * dx = dy W + mask * (g A), dbias = column sums of dy. W gets no gradient.
 */
export function loraBackward(p: LoraForwardInputs, u: Arr, dy: Arr): LoraGrads {
  const { T, K, N, r, w, a, b, scale, dropout, seed } = p;
  const off = (p.rowOffset ?? 0) * K;
  const g = alloc(dy, T * r), db = alloc(dy, N * r), dbias = alloc(dy, N);
  for (let t = 0; t < T; t++)
    for (let n = 0; n < N; n++) {
      const d = dy[t * N + n];
      dbias[n] += d;
      for (let j = 0; j < r; j++) {
        g[t * r + j] += scale * d * b[n * r + j];
        db[n * r + j] += scale * d * u[t * r + j];
      }
    }
  const xd = loraDroppedInput(p);
  const da = alloc(dy, r * K);
  for (let j = 0; j < r; j++)
    for (let k = 0; k < K; k++) {
      let s = 0;
      for (let t = 0; t < T; t++) s += g[t * r + j] * xd[t * K + k];
      da[j * K + k] = s;
    }
  const dx = alloc(dy, T * K);
  for (let t = 0; t < T; t++)
    for (let k = 0; k < K; k++) {
      let base = 0, lora = 0;
      for (let n = 0; n < N; n++) base += dy[t * N + n] * w[n * K + k];
      for (let j = 0; j < r; j++) lora += g[t * r + j] * a[j * K + k];
      dx[t * K + k] = base + lora * dropoutFactor(seed, off + t * K + k, dropout);
    }
  return { dx, da, db, dbias };
}

export interface Ia3Inputs {
  T: number; K: number; N: number;
  x: Arr; w: Arr; bias: Arr | null;
  /** The scaling vector: [N] for output scaling, [K] for input scaling. */
  l: Arr;
  /** 'output': y = (x W^T + b) * l (k_proj, v_proj); 'input': y = (x * l) W^T + b (the FFN's down projection). */
  mode: 'output' | 'input';
}

export function ia3Forward(p: Ia3Inputs): Arr {
  const { T, K, N, x, w, bias, l, mode } = p;
  const y = alloc(x, T * N);
  for (let t = 0; t < T; t++)
    for (let n = 0; n < N; n++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += x[t * K + k] * (mode === 'input' ? l[k] : 1) * w[n * K + k];
      const pre = s + (bias ? bias[n] : 0);
      y[t * N + n] = mode === 'output' ? pre * l[n] : pre;
    }
  return y;
}

/** Gradients of ia3Forward: dx and dl (and dbias, which BitFit-style callers may want). */
export function ia3Backward(p: Ia3Inputs, dy: Arr): { dx: Arr; dl: Arr } {
  const { T, K, N, x, w, bias, l, mode } = p;
  const dx = alloc(dy, T * K), dl = alloc(dy, mode === 'output' ? N : K);
  for (let t = 0; t < T; t++) {
    for (let n = 0; n < N; n++) {
      if (mode === 'output') {
        let pre = bias ? bias[n] : 0;
        for (let k = 0; k < K; k++) pre += x[t * K + k] * w[n * K + k];
        dl[n] += dy[t * N + n] * pre;
      }
    }
    for (let k = 0; k < K; k++) {
      let h = 0;  // (dy (diag l) W) for output scaling, (dy W) for input scaling
      for (let n = 0; n < N; n++) h += dy[t * N + n] * (mode === 'output' ? l[n] : 1) * w[n * K + k];
      if (mode === 'input') {
        dl[k] += h * x[t * K + k];
        dx[t * K + k] = h * l[k];
      } else dx[t * K + k] = h;
    }
  }
  return { dx, dl };
}

/** Hard-concrete gate parameters (Louizos et al.; the diff-pruning paper's defaults). */
export interface GateParams {
  gamma: number;
  zeta: number;
  beta: number;
}

export const DEFAULT_GATE: GateParams = { gamma: -1.5, zeta: 1.5, beta: 1 };

function sigmoid(v: number): number {
  return 1 / (1 + Math.exp(-v));
}

/**
 * The gate z for one parameter and dz / dlog_alpha. Training draws u ~ U(0, 1) from (seed, index);
 * eval uses the deterministic s = sigmoid(log_alpha).
 */
export function hardConcreteGate(logAlpha: number, training: boolean, seed: number, index: number, g: GateParams): { z: number; dz: number } {
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
export function l0Penalty(logAlpha: number, g: GateParams): { value: number; grad: number } {
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
  gate: GateParams;
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
export function gateSlopeFromZ(z: number, training: boolean, g: GateParams): number {
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

/** BitFit's backward of y = x W^T + b with W frozen: dx = dy W and db = column sums of dy. */
export function bitfitBackward(T: number, K: number, N: number, w: Arr, dy: Arr): { dx: Arr; dbias: Arr } {
  const dx = alloc(dy, T * K), dbias = alloc(dy, N);
  for (let t = 0; t < T; t++) {
    for (let n = 0; n < N; n++) dbias[n] += dy[t * N + n];
    for (let k = 0; k < K; k++) {
      let s = 0;
      for (let n = 0; n < N; n++) s += dy[t * N + n] * w[n * K + k];
      dx[t * K + k] = s;
    }
  }
  return { dx, dbias };
}
