/**
 * HF peft's src/peft/utils/merge_utils.py on host Float64Arrays: the task-tensor combinations behind
 * addWeightedAdapter's 'ties', 'dare_linear', 'dare_ties' and 'magnitude_prune' (and their '_svd' forms).
 * Task tensors are equal-length flat arrays, one per adapter (HF stacks them on dim 0).
 * - magnitude pruning: keep the k = trunc(density * numel) largest |values| (torch.topk), zero the rest;
 * - random pruning (DARE): keep each value with probability density, divide the kept ones by density.
 *   HF draws the mask with torch.bernoulli; here it comes from peftjs's seeded Philox stream (an explicit
 *   seed, or the global stream that manualSeed resets), so the masks are reproducible but are not torch's draws;
 * - density >= 1 prunes nothing (HF's prune returns the tensor as it is);
 * - majority sign ('total': the sign of the sum of the pruned, unweighted tensors; 'frequency': of the
 *   sum of their signs; >= 0 counts as +), then the disjoint merge: per element, the sum of the weighted
 *   values whose sign agrees, divided by how many agree (at least 1).
 */
import { rand } from '../../../tensor/creation';

export type MajoritySignMethod = 'total' | 'frequency';
export type MergeMethod = 'linear' | 'ties' | 'dare_linear' | 'dare_ties' | 'magnitude_prune';

/** Where DARE's uniform draws come from: n values in [0, 1) per call. */
export type UniformSource = (n: number) => Float32Array;

/** Uniforms from the global seeded stream (manualSeed makes them reproducible), or from seed, seed + 1, ... */
export function uniformSource(seed?: number | null): UniformSource {
  let next = seed ?? null;
  return (n: number) => {
    const t = next === null ? rand([n]) : rand([n], { seed: next++ });
    const v = t.toFloat32Array();
    t.dispose();
    return v;
  };
}

/** HF's magnitude_based_pruning: the k largest |values| stay (ties at the threshold: the first ones in order). */
export function magnitudePrune(t: Float64Array, density: number): Float64Array {
  if (density >= 1) return Float64Array.from(t);
  const n = t.length;
  const k = Math.trunc(density * n);
  const out = new Float64Array(n);
  if (k <= 0) return out;
  const abs = t.map(Math.abs);
  const sorted = Float64Array.from(abs).sort();
  const threshold = sorted[n - k];
  let atThreshold = 0;
  for (let i = n - k; i < n && sorted[i] === threshold; i++) atThreshold++;
  for (let i = 0; i < n; i++) {
    if (abs[i] > threshold) out[i] = t[i];
    else if (abs[i] === threshold && atThreshold > 0) { out[i] = t[i]; atThreshold--; }
  }
  return out;
}

/** HF's random_pruning: mask ~ Bernoulli(density) (u < density), optionally rescaled by 1 / density. */
export function randomPrune(t: Float64Array, density: number, rescale: boolean, uniforms: UniformSource): Float64Array {
  if (density >= 1) return Float64Array.from(t);
  const u = uniforms(t.length);
  const out = new Float64Array(t.length);
  for (let i = 0; i < t.length; i++) if (u[i] < density) out[i] = rescale ? t[i] / density : t[i];
  return out;
}

/** HF's calculate_majority_sign_mask: for each tensor, where its sign equals the elected one. */
export function majoritySignMask(tensors: Float64Array[], method: MajoritySignMethod): Uint8Array[] {
  const n = tensors[0].length;
  const majority = new Int8Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (const t of tensors) s += method === 'total' ? t[i] : Math.sign(t[i]);
    majority[i] = s >= 0 ? 1 : -1;
  }
  return tensors.map((t) => Uint8Array.from(t, (v, i) => (Math.sign(v) === majority[i] ? 1 : 0)));
}

/** HF's disjoint_merge over already weighted tensors. */
export function disjointMerge(weighted: Float64Array[], mask: Uint8Array[]): Float64Array {
  const n = weighted[0].length;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let sum = 0, count = 0;
    weighted.forEach((t, j) => { if (mask[j][i]) { sum += t[i]; count++; } });
    out[i] = sum / Math.max(count, 1);
  }
  return out;
}

function weightedSum(tensors: Float64Array[], weights: number[]): Float64Array {
  const out = new Float64Array(tensors[0].length);
  tensors.forEach((t, j) => { for (let i = 0; i < t.length; i++) out[i] += weights[j] * t[i]; });
  return out;
}

export interface MergeOptions {
  density: number;
  majoritySignMethod: MajoritySignMethod;
  uniforms: UniformSource;
}

/** HF's task_arithmetic / ties / dare_linear / dare_ties / magnitude_prune of merge_utils.py. */
export function mergeTaskTensors(method: MergeMethod, tensors: Float64Array[], weights: number[], opts: MergeOptions): Float64Array {
  const { density, majoritySignMethod, uniforms } = opts;
  switch (method) {
    case 'linear':
      return weightedSum(tensors, weights);
    case 'magnitude_prune':
      return weightedSum(tensors.map((t) => magnitudePrune(t, density)), weights);
    case 'dare_linear':
      return weightedSum(tensors.map((t) => randomPrune(t, density, true, uniforms)), weights);
    case 'ties':
    case 'dare_ties': {
      const pruned = tensors.map((t) => (method === 'ties' ? magnitudePrune(t, density) : randomPrune(t, density, true, uniforms)));
      const mask = majoritySignMask(pruned, majoritySignMethod);
      return disjointMerge(pruned.map((t, j) => t.map((v) => v * weights[j])), mask);
    }
    default:
      throw new Error(`mergeTaskTensors: unknown method '${String(method)}'`);
  }
}
