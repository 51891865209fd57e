/**
 * The diff-pruning kernels launched on tensors (hard-concrete gates, the top-k projection) and the sparse
 * export of a pruned difference. Not differentiable (op.ts is).
 */
import { empty } from '../../tensor/creation';
import { kernel } from '../../tensor/kernel_lookup';
import { formatShape } from '../../tensor/shape';
import { backendFor, type Tensor } from '../../tensor/tensor';
import { expectShape } from '../tensor_checks';
import { DEFAULT_GATE, type GateOptions } from './kernel';

export interface GateRunOptions {
  training: boolean;
  seed?: number;
  gate?: GateOptions;
}

function gateParams(op: string, w: Tensor, delta: Tensor, logAlpha: Tensor) {
  expectShape(op, 'delta', delta, [...w.shape]);
  if (!delta.isContiguous() || !w.isContiguous()) throw new RangeError(`${op}: W and delta must be contiguous`);
  if (logAlpha.size !== 1 && logAlpha.size !== w.size)
    throw new RangeError(`${op}: logAlpha must have 1 (structured) or ${w.size} elements, got ${formatShape(logAlpha.shape)}`);
  backendFor(logAlpha, op);
  return { n: w.size, logAlphaLength: logAlpha.size };
}

/** W' = W + z * delta with hard-concrete gates z; also the gates and the expected-L0 penalty. */
export function launchDiffPruneForward(w: Tensor, delta: Tensor, logAlpha: Tensor, opts: GateRunOptions): { w: Tensor; z: Tensor; penalty: number } {
  const op = 'diffPruneForward';
  const be = backendFor(w, op);
  const { n, logAlphaLength } = gateParams(op, w, delta, logAlpha);
  const wOut = empty(w.shape), z = empty(w.shape);
  const penalty = kernel(be, 'diffPruneForward', op)({ n, logAlphaLength, delta: delta.buf(), logAlpha: logAlpha.buf(), training: opts.training,
    seed: opts.seed ?? 0, gate: opts.gate ?? DEFAULT_GATE, w: w.buf(), wOut: wOut.buf(), z: z.buf() });
  return { w: wOut, z, penalty };
}

/**
 * Gradients of launchDiffPruneForward for dW' (and lambda times the penalty). opts.gates: the z launchDiffPruneForward returned for
 * the same arguments; with them the backward is one streaming pass (no redraw of the random bits, no gate
 * math). Without them the gates are regenerated from the seed: the same values.
 */
export function launchDiffPruneBackward(dw: Tensor, delta: Tensor, logAlpha: Tensor, opts: GateRunOptions & { lambda: number; gates?: Tensor | null }): { dDelta: Tensor; dLogAlpha: Tensor } {
  const op = 'diffPruneBackward';
  const be = backendFor(dw, op);
  const { n, logAlphaLength } = gateParams(op, dw, delta, logAlpha);
  const gates = opts.gates ?? null;
  if (gates) expectShape(op, 'gates', gates, [...dw.shape]);
  const dDelta = empty(dw.shape), dLogAlpha = empty(logAlpha.shape);
  kernel(be, 'diffPruneBackward', op)({ n, logAlphaLength, delta: delta.buf(), logAlpha: logAlpha.buf(), training: opts.training, seed: opts.seed ?? 0,
    gate: opts.gate ?? DEFAULT_GATE, dw: dw.buf(), lambda: opts.lambda, dDelta: dDelta.buf(), dLogAlpha: dLogAlpha.buf(), gates: gates ? gates.buf() : null });
  return { dDelta, dLogAlpha };
}

/** Keeps the round(density * n) largest-magnitude entries of v (in place); returns the threshold. */
export function projectToDensity(v: Tensor, density: number): number {
  const op = 'projectTopK';
  const be = backendFor(v, op);
  if (!(density >= 0 && density <= 1)) throw new RangeError(`${op}: density must be in [0, 1], got ${density}`);
  if (!v.isContiguous()) throw new RangeError(`${op}: tensor must be contiguous`);
  return kernel(be, 'projectTopK', op)({ v: v.buf(), n: v.size, keep: Math.round(density * v.size) });
}

/** The sparse form of a mostly-zero tensor: flat indices and their values. */
export function toSparse(v: Tensor): { shape: number[]; indices: Int32Array; values: Float32Array } {
  const data = v.toFloat32Array();
  let count = 0;
  for (const x of data) if (x !== 0) count++;
  const indices = new Int32Array(count), values = new Float32Array(count);
  for (let i = 0, j = 0; i < data.length; i++) if (data[i] !== 0) { indices[j] = i; values[j++] = data[i]; }
  return { shape: [...v.shape], indices, values };
}

/** The dense tensor of a sparse (indices, values) export; indices are checked against the shape. */
export function fromSparse(s: { shape: number[]; indices: ArrayLike<number>; values: ArrayLike<number> }): Tensor {
  const size = s.shape.reduce((a, b) => a * b, 1);
  if (s.indices.length !== s.values.length)
    throw new RangeError(`fromSparse: ${s.indices.length} indices but ${s.values.length} values`);
  const dense = new Float32Array(size);
  for (let i = 0; i < s.indices.length; i++) {
    const at = s.indices[i];
    if (!Number.isInteger(at) || at < 0 || at >= size) throw new RangeError(`fromSparse: index ${at} is outside a tensor of ${size} elements`);
    dense[at] = s.values[i];
  }
  const out = empty(s.shape);
  backendFor(out, 'fromSparse').write(out.buf(), dense);
  return out;
}
