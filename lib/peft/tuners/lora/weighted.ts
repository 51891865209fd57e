/**
 * HF peft's LoraModel.add_weighted_adapter for the 'linear', 'cat' and 'svd' combinations: a new adapter
 * made from weighted existing ones, added inactive and frozen (HF's _freeze_adapter), with r = lora_alpha
 * = the new rank (so its scale is 1, or sqrt(r) with rsLoRA, as HF's replace(config, ...) gives).
 * - linear: equal ranks; A = sum sqrt(w_i s_i) A_i and B = sum sqrt(w_i s_i) B_i (HF's task_arithmetic
 *   on A and B separately, so B A is not the weighted sum of the deltas unless one adapter is given).
 * - cat: ranks add up; A = [w_1 s_1 A_1; w_2 s_2 A_2; ...], B = [B_1 B_2 ...]: B A = sum w_i s_i B_i A_i.
 * - svd: the truncated SVD of sum_i (w_i s_i) dW_i, where dW_i = s_i B_i A_i already holds the scale (so
 *   s_i enters twice, exactly as HF computes it); B = U S, A = V^T, over the [out, in] layout.
 */
import { copyInto } from '../../../nn/module';
import { fromArray } from '../../../tensor/creation';
import type { PeftModel } from '../../peft_model';
import { isModulesToSave } from '../../modules_to_save';
import type { WeightedAdapterOptions } from '../../tuner';
import { LoraConfig } from './config';
import { LoraEmbedding } from './embedding_layer';
import { LoraLinear } from './layer';
import { svd } from './svd';

export type CombinationType = 'linear' | 'cat' | 'svd';

const OP = 'addWeightedAdapter';

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
  const type = adapters.length === 1 ? 'linear' : combinationType;
  if (!['linear', 'cat', 'svd'].includes(type)) throw new Error(`${OP}: invalid combination_type '${combinationType}' (supported: linear, cat, svd)`);
  const ranks = configs.map((c) => c.r);
  let newRank: number;
  if (type === 'linear') {
    if (new Set(ranks).size !== 1) throw new Error(`${OP}: all adapters must have the same r value when using combination_type linear (got ${ranks.join(', ')})`);
    newRank = ranks[0];
  } else if (type === 'cat') newRank = ranks.reduce((x, y) => x + y, 0);
  else {
    newRank = opts.svdRank ?? Math.max(...ranks);
    if (!Number.isInteger(newRank) || newRank < 1) throw new RangeError(`${OP}: svdRank must be a positive integer, got ${opts.svdRank}`);
  }
  if (configs.some((c) => c.useDora)) throw new Error(`${OP}: DoRA adapters cannot be combined (their magnitudes have no weighted sum)`);
  if (type !== 'linear' && configs.some((c) => Object.keys(c.rankPattern).length > 0))
    throw new Error(`${OP}: adapters with a rankPattern can only be combined with 'linear' (the new adapter's per-module ranks would not fit)`);

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
      const { a, b } = type === 'linear' ? linearCombination(layer, present, path)
        : type === 'cat' ? catCombination(layer, present, layer.specs.get(adapterName)!.r)
          : svdCombination(layer, present, layer.specs.get(adapterName)!.r, opts.svdClamp ?? null, path);
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

function linearCombination(layer: LoraLinear, present: Weighted[], path: string) {
  const K = layer.inFeatures, N = layer.outFeatures;
  const r = layer.specs.get(present[0].a)!.r;
  const a = new Float64Array(r * K), b = new Float64Array(N * r);
  for (const { a: name, w } of present) {
    const h = host(layer, name);
    if (h.r !== r) throw new Error(`${OP}: in ${path} adapter '${name}' has rank ${h.r}, another has ${r}; 'linear' needs equal ranks`);
    const f = w * h.s;
    if (f < 0) throw new RangeError(`${OP}: 'linear' takes sqrt(weight * scaling) (as HF), which is not real for adapter '${name}' (weight ${w}, scaling ${h.s})`);
    const g = Math.sqrt(f);
    h.A.forEach((v, i) => { a[i] += g * v; });
    h.B.forEach((v, i) => { b[i] += g * v; });
  }
  return { a, b };
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

function svdCombination(layer: LoraLinear, present: Weighted[], rank: number, clamp: number | null, path: string) {
  const K = layer.inFeatures, N = layer.outFeatures;
  if (rank > Math.min(N, K)) throw new RangeError(`${OP}: svd rank ${rank} exceeds min(out, in) = ${Math.min(N, K)} of ${path}`);
  // sum_i (w_i s_i) * (s_i B_i A_i), in [out, in] (HF transposes Conv1D's [in, out] delta back to it).
  const delta = new Float64Array(N * K);
  for (const { a: name, w } of present) {
    const h = host(layer, name);
    const f = w * h.s * h.s;
    for (let n = 0; n < N; n++) {
      for (let j = 0; j < h.r; j++) {
        const bnj = f * h.B[n * h.r + j];
        if (bnj === 0) continue;
        for (let k = 0; k < K; k++) delta[n * K + k] += bnj * h.A[j * K + k];
      }
    }
  }
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
