/**
 * HF peft's LoraModel.add_weighted_adapter (src/peft/tuners/lora/model.py): a new adapter made from
 * weighted existing ones, added inactive and frozen (HF's _freeze_adapter), with r = lora_alpha = the new
 * rank (so its scale is 1, or sqrt(r) with rsLoRA, as HF's replace(config, ...) gives).
 * - linear, ties, dare_linear, dare_ties, magnitude_prune (HF's _generalized_task_arithmetic_weighted_adapter):
 *   equal ranks; A and B are combined separately by merge_utils (see merge_utils.ts) with the weights
 *   sqrt(|w_i s_i|) * sign(w_i s_i) on the A side and sqrt(|w_i s_i|) on the B side. For 'linear' alone a
 *   negative w s is refused (this port's earlier rule; HF now carries the sign on A as for the others).
 *   With one adapter, linear is taken whatever the type (HF).
 * - cat: ranks add up; A = [w_1 s_1 A_1; w_2 s_2 A_2; ...], B = [B_1 B_2 ...]: B A = sum w_i s_i B_i A_i.
 * - svd, ties_svd, dare_linear_svd, dare_ties_svd, magnitude_prune_svd (HF's
 *   _svd_generalized_task_arithmetic_weighted_adapter): the delta weights dW_i = s_i B_i A_i (which already
 *   hold the scale) are combined by merge_utils with the weights w_i s_i (so s_i enters twice, exactly as
 *   HF), then truncated by SVD: B = U S, A = V^T over the [out, in] layout, optionally clamped.
 * density (in (0, 1]) is required by the pruning types; majoritySignMethod ('total' | 'frequency',
 * default 'total') is used by the ties types. DARE's masks come from peftjs's seeded stream (opts.seed, or
 * the global stream of manualSeed), not torch.bernoulli's draws.
 */
import { copyInto } from '../../../nn/module';
import { fromArray } from '../../../tensor/creation';
import type { PeftModel } from '../../peft_model';
import { isModulesToSave } from '../../modules_to_save';
import type { WeightedAdapterOptions } from '../../tuner';
import { LoraConfig } from './config';
import { LoraEmbedding } from './embedding_layer';
import { LoraLinear } from './layer';
import { type MajoritySignMethod, type MergeMethod, mergeTaskTensors, type MergeOptions, uniformSource } from './merge_utils';
import { svd } from './svd';

export type CombinationType = 'linear' | 'cat' | 'svd' | 'ties' | 'ties_svd' | 'dare_linear' | 'dare_ties' | 'dare_linear_svd' |
  'dare_ties_svd' | 'magnitude_prune' | 'magnitude_prune_svd';

declare module '../../tuner' {
  interface WeightedAdapterOptions {
    /** The pruning types: the fraction of values kept, in (0, 1]. */
    density?: number | null;
    /** The ties types: how the majority sign is elected (default 'total'). */
    majoritySignMethod?: MajoritySignMethod;
    /** The DARE types: the seed of the random masks (default: the global stream, see manualSeed). */
    seed?: number | null;
  }
}

const OP = 'addWeightedAdapter';
/** The types combining A and B separately (equal ranks), and those going through an SVD of the combined delta. */
const AB_TYPES: readonly string[] = ['linear', 'ties', 'dare_linear', 'dare_ties', 'magnitude_prune'];
const SVD_TYPES: readonly string[] = ['svd', 'ties_svd', 'dare_linear_svd', 'dare_ties_svd', 'magnitude_prune_svd'];
const ALL_TYPES: readonly string[] = [...AB_TYPES, 'cat', ...SVD_TYPES];

export function addWeightedAdapter(peft: PeftModel, adapters: string[], weights: number[], adapterName: string,
                                   combinationType: string = 'svd', opts: WeightedAdapterOptions = {}): void {
  // HF returns silently when the name is taken; an error says why nothing happened.
  if (peft.peftConfig.has(adapterName)) throw new Error(`${OP}: an adapter named '${adapterName}' already exists`);
  if (!Array.isArray(adapters) || adapters.length === 0) throw new Error(`${OP}: name at least one adapter to combine`);
  if (!Array.isArray(weights) || weights.length !== adapters.length || weights.some((w) => typeof w !== 'number' || !Number.isFinite(w)))
    throw new Error(`${OP}: expected ${adapters.length} finite weight(s), one per adapter, got ${JSON.stringify(weights)}`);
  const configs = adapters.map((a) => {
    const c = peft.peftConfig.get(a);
    if (!c) throw new Error(`${OP}: adapter ${a} does not exist`);
    if (!(c instanceof LoraConfig)) throw new Error(`${OP}: adapter ${a} is a ${c.peftType} adapter, not LoRA`);
    return c;
  });
  for (const [path, m] of peft.model.namedModules()) {
    if (isModulesToSave(m) && adapters.filter((a) => m.hasAdapter(a)).length > 1)
      throw new Error(`${OP}: cannot add weighted adapters if they target the same module with modules_to_save (${path})`);
  }
  for (const [path, m] of peft.model.namedModules()) {
    if (m instanceof LoraEmbedding && adapters.some((a) => m.specs.has(a)))
      throw new Error(`${OP}: adapters on embedding layers cannot be combined yet (${path})`);
  }
  if (typeof combinationType !== 'string' || !ALL_TYPES.includes(combinationType))
    throw new Error(`${OP}: invalid combination_type '${String(combinationType)}' (supported: ${ALL_TYPES.join(', ')})`);
  const type = adapters.length === 1 ? 'linear' : combinationType;
  const merge = mergeOptions(type, opts);
  const ranks = configs.map((c) => c.r);
  let newRank: number;
  if (AB_TYPES.includes(type)) {
    if (new Set(ranks).size !== 1) throw new Error(`${OP}: all adapters must have the same r value when using combination_type ${type} (got ${ranks.join(', ')})`);
    newRank = ranks[0];
  } else if (type === 'cat') newRank = ranks.reduce((x, y) => x + y, 0);
  else {
    newRank = opts.svdRank ?? Math.max(...ranks);
    if (!Number.isInteger(newRank) || newRank < 1) throw new RangeError(`${OP}: svdRank must be a positive integer, got ${opts.svdRank}`);
  }
  if (configs.some((c) => c.useDora)) throw new Error(`${OP}: DoRA adapters cannot be combined (their magnitudes have no weighted sum)`);
  if (!AB_TYPES.includes(type) && configs.some((c) => Object.keys(c.rankPattern).length > 0))
    throw new Error(`${OP}: adapters with a rankPattern can only be combined with ${AB_TYPES.join(', ')} (the new adapter's per-module ranks would not fit)`);

  const config = configs[0].clone();
  config.r = newRank;
  config.loraAlpha = newRank;
  config.targetModules = unionTargets(configs);
  const before = [...peft.activeAdapters];
  peft.addAdapter(adapterName, config);
  peft.setAdapter(before);
  peft.setAdapterTrainable(adapterName, false);

  try {
    for (const [path, layer] of peft.model.namedModules()) {
      if (!(layer instanceof LoraLinear) || !layer.specs.has(adapterName)) continue;
      const present = adapters.map((a, i) => ({ a, w: weights[i] })).filter(({ a }) => layer.specs.has(a));
      if (present.length === 0) throw new Error(`${OP}: no matching LoRAs found in ${path}`);
      const { a, b } = AB_TYPES.includes(type) ? abCombination(type as MergeMethod, layer, present, path, merge)
        : type === 'cat' ? catCombination(layer, present, layer.specs.get(adapterName)!.r)
          : svdCombination(type, layer, present, layer.specs.get(adapterName)!.r, opts.svdClamp ?? null, path, merge);
      write(layer.lora_A.get(adapterName).weight, a);
      write(layer.lora_B.get(adapterName).weight, b);
    }
  } catch (e) {
    peft.deleteAdapter(adapterName);  // no half-made adapter stays behind
    throw e;
  }
}

/** HF: a regex per adapter joined by '|', or the union of the name lists. */
function unionTargets(configs: LoraConfig[]): string[] | string {
  const kinds = new Set(configs.map((c) => (typeof c.targetModules === 'string' ? 'str' : 'list')));
  if (kinds.size > 1)
    throw new Error(`${OP}: all adapter configs should follow the same target modules type. Combining adapters with \`target_modules\` type being a mix of list/set and string is not supported.`);
  if (kinds.has('str')) return configs.map((c) => `(${c.targetModules})`).join('|');
  return [...new Set(configs.flatMap((c) => (c.targetModules as string[] | null) ?? []))];
}

interface Weighted {
  a: string;
  w: number;
}

function host(layer: LoraLinear, name: string) {
  const spec = layer.specs.get(name)!;
  return { A: layer.lora_A.get(name).weight.toFloat32Array(), B: layer.lora_B.get(name).weight.toFloat32Array(), r: spec.r, s: spec.scale };
}

/** density and majoritySignMethod checked for the type that uses them (HF: density is required by the pruning types). */
function mergeOptions(type: string, opts: WeightedAdapterOptions): MergeOptions {
  const method = opts.majoritySignMethod ?? 'total';
  if (method !== 'total' && method !== 'frequency')
    throw new RangeError(`${OP}: majoritySignMethod must be 'total' or 'frequency', got ${JSON.stringify(method)}`);
  const prunes = type !== 'linear' && type !== 'svd' && type !== 'cat';
  const density = opts.density ?? null;
  if (prunes && density === null) throw new RangeError(`${OP}: combination_type '${type}' needs a density in (0, 1]`);
  if (density !== null && (typeof density !== 'number' || !(density > 0 && density <= 1)))
    throw new RangeError(`${OP}: density must be in (0, 1], got ${String(density)}`);
  if (opts.seed !== undefined && opts.seed !== null && (!Number.isInteger(opts.seed) || opts.seed < 0 || opts.seed >= 2 ** 48))
    throw new RangeError(`${OP}: seed must be an integer in [0, 2^48), got ${String(opts.seed)}`);
  return { density: density ?? 1, majoritySignMethod: method, uniforms: uniformSource(opts.seed) };
}

function abCombination(type: MergeMethod, layer: LoraLinear, present: Weighted[], path: string, merge: MergeOptions) {
  const r = layer.specs.get(present[0].a)!.r;
  const as: Float64Array[] = [], bs: Float64Array[] = [], wa: number[] = [], wb: number[] = [];
  for (const { a: name, w } of present) {
    const h = host(layer, name);
    if (h.r !== r) throw new Error(`${OP}: in ${path} adapter '${name}' has rank ${h.r}, another has ${r}; '${type}' needs equal ranks`);
    const f = w * h.s;
    if (type === 'linear' && f < 0) throw new RangeError(`${OP}: 'linear' takes sqrt(weight * scaling) (as HF), which is not real for adapter '${name}' (weight ${w}, scaling ${h.s})`);
    // HF: the sign rides on the A side only, so B A keeps it.
    wa.push(Math.sqrt(Math.abs(f)) * (f >= 0 ? 1 : -1));
    wb.push(Math.sqrt(Math.abs(f)));
    as.push(Float64Array.from(h.A));
    bs.push(Float64Array.from(h.B));
  }
  return { a: mergeTaskTensors(type, as, wa, merge), b: mergeTaskTensors(type, bs, wb, merge) };
}

function catCombination(layer: LoraLinear, present: Weighted[], rank: number) {
  const K = layer.inFeatures, N = layer.outFeatures;
  // Rows (of A) and columns (of B) past the adapters this layer holds stay zero, as HF leaves them.
  const a = new Float64Array(rank * K), b = new Float64Array(N * rank);
  let row = 0;
  for (const { a: name, w } of present) {
    const h = host(layer, name);
    for (let i = 0; i < h.r * K; i++) a[row * K + i] = h.A[i] * w * h.s;
    for (let n = 0; n < N; n++) for (let j = 0; j < h.r; j++) b[n * rank + row + j] = h.B[n * h.r + j];
    row += h.r;
  }
  return { a, b };
}

function svdCombination(type: string, layer: LoraLinear, present: Weighted[], rank: number, clamp: number | null, path: string, merge: MergeOptions) {
  const K = layer.inFeatures, N = layer.outFeatures;
  if (rank > Math.min(N, K)) throw new RangeError(`${OP}: svd rank ${rank} exceeds min(out, in) = ${Math.min(N, K)} of ${path}`);
  // merge_utils over the deltas s_i B_i A_i with weights w_i s_i, in [out, in] (HF transposes Conv1D's
  // [in, out] delta back to it; pruning is element-wise, so the layout does not change which values stay).
  const deltas: Float64Array[] = [], weights: number[] = [];
  for (const { a: name, w } of present) {
    const h = host(layer, name);
    const dw = new Float64Array(N * K);
    for (let n = 0; n < N; n++) {
      for (let j = 0; j < h.r; j++) {
        const bnj = h.s * h.B[n * h.r + j];
        if (bnj === 0) continue;
        for (let k = 0; k < K; k++) dw[n * K + k] += bnj * h.A[j * K + k];
      }
    }
    deltas.push(dw);
    weights.push(w * h.s);
  }
  const method = (type === 'svd' ? 'linear' : type.slice(0, -'_svd'.length)) as MergeMethod;
  const delta = mergeTaskTensors(method, deltas, weights, merge);
  const d = svd(delta, N, K);
  const b = new Float64Array(N * rank), a = new Float64Array(rank * K);
  for (let n = 0; n < N; n++) for (let j = 0; j < rank; j++) b[n * rank + j] = d.u[n * d.k + j] * d.s[j];
  a.set(d.vt.subarray(0, rank * K));
  if (clamp !== null) clampByQuantile(a, b, clamp);
  return { a, b };
}

/** HF's svd_clamp: both factors clamped to +-(the clamp-quantile of their values), torch.quantile's linear interpolation. */
function clampByQuantile(a: Float64Array, b: Float64Array, q: number): void {
  if (!(q >= 0 && q <= 1)) throw new RangeError(`${OP}: svdClamp must be a quantile in [0, 1], got ${q}`);
  const all = Float64Array.from([...b, ...a]).sort();
  const pos = q * (all.length - 1);
  const lo = Math.floor(pos);
  const hi = all[lo] + (pos - lo) * ((all[Math.min(lo + 1, all.length - 1)]) - all[lo]);
  for (const t of [a, b]) for (let i = 0; i < t.length; i++) t[i] = Math.min(Math.max(t[i], -hi), hi);
}

function write(target: import('../../../tensor/tensor').Tensor, values: Float64Array): void {
  const t = fromArray(Float32Array.from(values), target.shape);
  copyInto(target, t);
  t.dispose();
}
