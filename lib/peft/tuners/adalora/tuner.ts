/**
 * The AdaLoRA tuner, HF's AdaLoraModel (src/peft/tuners/adalora/model.py, peft 5d602fd): every targeted
 * Linear / Conv1D becomes an SVDLinear with init_r triplets; one adapter at most trains, and it gets a
 * RankAllocator (rank_allocator.ts) that the Trainer (or the caller, as HF's examples do) runs after each
 * optimizer step through PeftModel.updateAndAllocate; the forward adds the orthogonal regulariser to the
 * loss (orth_reg.ts). Saved as HF does: `base_model.model.<module>.lora_A` / `lora_B` / `lora_E` (ranknum
 * is not saved: it is always the initial rank), cut to the kept triplets when the config holds a
 * rank_pattern (whose keys then lose the adapter name); loading such a file first resizes the layers by
 * the pattern (resize_modules_by_rank_pattern).
 */
import { FileFormatError } from '../../../io/errors';
import { Conv1D } from '../../../nn/layers/conv1d';
import { Linear } from '../../../nn/layers/linear';
import { QuantizedLinear } from '../../../quant/quantized_linear';
import type { Module } from '../../../nn/module';
import { copyInto } from '../../../nn/module';
import { fromArray } from '../../../tensor/creation';
import type { Tensor } from '../../../tensor/tensor';
import type { PeftModel } from '../../peft_model';
import { loadByKeys, savedKey } from '../../save_load';
import { fillDefaultTargets } from '../../target_module_mapping';
import { findTargets, isTargeted } from '../../targets';
import { registerTuner, type Tuner } from '../../tuner';
import { loraWarn } from '../lora/warnings';
import { type AdaLoraConfig, type AdaLoraRankPattern, initIsTruthy } from './config';
import { SVDLinear } from './layer';
import { addOrthogonalRegularizer } from './orth_reg';
import { RankAllocator } from './rank_allocator';

/**
 * HF's TRANSFORMERS_MODELS_TO_ADALORA_TARGET_MODULES_MAPPING (src/peft/utils/constants.py) for the
 * families peftjs builds (no mistral entry, unlike LoRA's).
 */
export const ADALORA_DEFAULT_TARGETS: Readonly<Record<string, readonly string[]>> = Object.freeze({
  llama: ['q_proj', 'v_proj'],
  gpt2: ['c_attn'],
  bert: ['query', 'value'],
  qwen2: ['q_proj', 'v_proj'],
  qwen3: ['q_proj', 'v_proj'],
  gemma: ['q_proj', 'v_proj'],
  gemma2: ['q_proj', 'v_proj'],
});

/** What HF's AdaLoraModel holds beside the layers: the trained adapter's name and its allocator. */
interface Training {
  name: string;
  allocator: RankAllocator;
}
const training = new WeakMap<PeftModel, Training>();

/** The SVDLinear layers holding adapter `name`, by path in the base model. */
export function svdLayers(peft: PeftModel, name: string): [string, SVDLinear][] {
  return peft.model.namedModules().filter((e): e is [string, SVDLinear] => e[1] instanceof SVDLinear && e[1].specs.has(name));
}

/** The RankAllocator of the model's trainable AdaLoRA adapter (null when every adapter is frozen). */
export function rankAllocatorOf(peft: PeftModel): RankAllocator | null {
  return training.get(peft)?.allocator ?? null;
}

/**
 * HF's AdaLoraModel.update_and_allocate: before total_step - tfinal, the importance update and (every
 * deltaT) a mask to the scheduled budget, its pattern written into the config; at total_step - tfinal the
 * final mask to target_bgt; after it, the final pattern re-applied (E stays 0 where pruned).
 */
export function updateAndAllocate(peft: PeftModel, globalStep: number): void {
  const t = training.get(peft);
  if (!t) throw new Error('updateAndAllocate: this AdaLoRA model has no trainable adapter (they were all added with inferenceMode)');
  if (!Number.isInteger(globalStep) || globalStep < 0) throw new RangeError(`updateAndAllocate: globalStep must be a non-negative integer, got ${globalStep}`);
  const config = t.allocator.config;
  const end = config.totalStep! - config.tfinal;
  if (globalStep < end) {
    const { rankPattern } = t.allocator.updateAndAllocate(peft.model, globalStep);
    if (rankPattern) config.rankPattern = rankPattern;
  } else if (globalStep === end) {
    config.rankPattern = t.allocator.updateAndAllocate(peft.model, globalStep, true).rankPattern;
    t.allocator.resetIpt();
  } else {
    if (!config.rankPattern)
      throw new Error(`updateAndAllocate: step ${globalStep} is past the budgeting phase (totalStep - tfinal = ${end}) but no rank pattern was allocated (updateAndAllocate did not run at step ${end})`);
    t.allocator.maskUsingRankPattern(peft.model, config.rankPattern);
  }
}

/** The module path of a rank pattern key (`<module>.lora_E` or `<module>.lora_E.<name>`). */
function modulePathOf(key: string, name: string): string {
  const parts = key.split('.');
  return parts.slice(0, parts[parts.length - 1] === name ? -2 : -1).join('.');
}

/**
 * HF's resize_modules_by_rank_pattern: each listed layer keeps the triplets its pattern marks. A layer
 * already at the pattern's rank (loaded before) is left as it is.
 */
export function resizeModulesByRankPattern(peft: PeftModel, pattern: AdaLoraRankPattern, name: string, where: string): void {
  const trainable = !peft.peftConfig.get(name)!.inferenceMode;
  for (const [key, keep] of Object.entries(pattern)) {
    const path = modulePathOf(key, name);
    let layer: Module | null = null;
    try {
      layer = peft.model.getSubmodule(path);
    } catch {
      layer = null;
    }
    if (!(layer instanceof SVDLinear) || !layer.specs.has(name))
      throw new Error(`${where}: rank_pattern key '${key}' names no AdaLoRA layer of adapter '${name}' ('${path}')`);
    const r = layer.specs.get(name)!.r;
    const kept = keep.filter(Boolean).length;
    if (r === keep.length) layer.resize(name, keep, trainable);
    else if (r !== kept)
      throw new Error(`${where}: rank_pattern['${key}'] lists ${keep.length} triplets (${kept} kept), the layer has rank ${r}`);
  }
}

/** A saved [rows, cols] tensor's rows (byRow) or columns picked by keep, as a new tensor. */
function pick(t: Tensor, keep: readonly boolean[], byRow: boolean): Tensor {
  const [rows, cols] = t.shape;
  const v = t.toFloat32Array();
  const idx = keep.flatMap((k, i) => (k ? [i] : []));
  if (byRow) {
    const out = new Float32Array(idx.length * cols);
    idx.forEach((src, dst) => out.set(v.subarray(src * cols, (src + 1) * cols), dst * cols));
    return fromArray(out, [idx.length, cols]);
  }
  const out = new Float32Array(rows * idx.length);
  for (let i = 0; i < rows; i++) idx.forEach((src, dst) => { out[i * idx.length + dst] = v[i * cols + src]; });
  return fromArray(out, [rows, idx.length]);
}

const adaloraTuner: Tuner<AdaLoraConfig> = {
  peftType: 'ADALORA',
  // ranknum is left out: not saved (HF), never trained, and not switched to trainable with the adapter.
  adapterPrefixes: ['lora_A', 'lora_B', 'lora_E'],

  inject(peft: PeftModel, config: AdaLoraConfig, name: string): void {
    const model = peft.model;
    // HF's _check_new_adapter_config / __init__: at most one adapter trains.
    const trainable = [...peft.peftConfig.values()].filter((c) => !c.inferenceMode).length + (config.inferenceMode ? 0 : 1);
    if (trainable > 1)
      throw new Error('AdaLoraModel supports only 1 trainable adapter. When using multiple adapters, set inferenceMode to true for all adapters except the one you want to train.');
    fillDefaultTargets(model, config, 'AdaLoRA', ADALORA_DEFAULT_TARGETS);
    config.validate();
    const accept = (m: Module) => m instanceof Linear || m instanceof Conv1D || m instanceof QuantizedLinear || m instanceof SVDLinear;
    for (const [key, m] of model.namedModules()) {
      if (key === '' || !isTargeted(config, key, m) || accept(m)) continue;
      throw new TypeError(`AdaLoRA: target module '${key}' (${m.constructor.name}) is not supported; currently only Linear, Conv1D and quantized linear layers are supported`);
    }
    for (const [path, m] of findTargets(model, config, accept, 'AdaLoRA')) {
      const layer = m instanceof SVDLinear ? m : new SVDLinear(m as Linear | Conv1D | QuantizedLinear);
      // HF corrects fan_in_fan_out to the layer's layout (and says so); the layer reads its layout itself.
      if (layer.fanInFanOut && !config.fanInFanOut) {
        loraWarn('fan_in_fan_out is set to False but the target module is `Conv1D`. Setting fan_in_fan_out to True.');
        config.fanInFanOut = true;
      } else if (!layer.fanInFanOut && config.fanInFanOut) {
        loraWarn('fan_in_fan_out is set to True but the target module is `torch.nn.Linear`. Setting fan_in_fan_out to False.');
        config.fanInFanOut = false;
      }
      if (layer !== m) model.setSubmodule(path, layer);
      const r = config.initR, alpha = config.loraAlpha;
      layer.addAdapter(name, { r, alpha, dropout: config.loraDropout, scaling: alpha > 0 ? alpha : r }, initIsTruthy(config.initLoraWeights), !config.inferenceMode);
    }
    if (!config.inferenceMode) training.set(peft, { name, allocator: new RankAllocator(model, config, name) });
  },

  /** HF's _get_adapter_state_dict: no ranknum; with a rank_pattern, the adapter name leaves its keys and the tensors keep only the kept triplets. */
  stateDict(peft: PeftModel, name: string): Map<string, Tensor> {
    const out = new Map(peft.adapterParameters(name).map(([p, t]) => [savedKey(p, name), t] as [string, Tensor]));
    const config = peft.peftConfig.get(name) as AdaLoraConfig;
    if (!config.rankPattern) return out;
    const suffix = `.${name}`;
    config.rankPattern = Object.fromEntries(Object.entries(config.rankPattern).map(([k, v]) => [k.split(suffix).join(''), v]));
    // resize_state_dict_by_rank_pattern: a tensor already of the kept rank stays as it is.
    for (const [key, keep] of Object.entries(config.rankPattern)) {
      const prefix = modulePathOf(key, name);
      const rank = keep.filter(Boolean).length;
      for (const factor of ['lora_E', 'lora_A', 'lora_B']) {
        const k = `${prefix}.${factor}`;
        const t = out.get(k);
        if (!t) throw new Error(`savePretrained: rank_pattern key '${key}' has no saved tensor '${k}'`);
        const byRow = factor !== 'lora_B';
        if (rank !== t.shape[byRow ? 0 : 1]) out.set(k, pick(t, keep, byRow));
      }
    }
    return out;
  },

  /**
   * HF's _remap_adapter_state_dict_for_load (the layers resized by the config's rank_pattern) and a strict
   * key check; a `<module>.ranknum` entry (files of older peft versions save it) is loaded when present.
   */
  loadStateDict(peft: PeftModel, name: string, tensors: Map<string, Tensor>, file: string): void {
    const config = peft.peftConfig.get(name) as AdaLoraConfig;
    if (config.rankPattern) resizeModulesByRankPattern(peft, config.rankPattern, name, file);
    const own = new Map(peft.adapterParameters(name).map(([p, t]) => [savedKey(p, name), t] as [string, Tensor]));
    const rest = new Map<string, Tensor>();
    const ranknums: [string, Tensor][] = [];
    for (const [k, t] of tensors) {
      if (k.endsWith('.ranknum')) ranknums.push([k, t]);
      else rest.set(k, t);
    }
    loadByKeys(own, rest, file);
    for (const [k, t] of ranknums) {
      const layer = svdLayers(peft, name).find(([p]) => `${p}.ranknum` === k)?.[1];
      if (!layer) throw new FileFormatError('adapter weights', file, `unexpected key '${k}': no AdaLoRA layer of adapter '${name}' there`);
      const target = layer.ranknum.get(name);
      if (t.size !== 1) throw new FileFormatError('adapter weights', file, `'${k}' has shape [${t.shape.join(', ')}], ranknum is [1]`);
      copyInto(target, t.reshape([1]));
    }
  },

  trainedBaseParameters(peft: PeftModel, config: AdaLoraConfig): string[] {
    if (config.bias === 'none') return [];
    return peft.model.namedParameters().map(([p]) => p).filter((p) => {
      if (!p.endsWith('.bias') || p.includes('.lora_')) return false;
      return config.bias === 'all' || p.endsWith('.base_layer.bias');
    });
  },

  afterForward(peft: PeftModel, output: unknown): void {
    addOrthogonalRegularizer(peft, output, trainableAdapterName(peft));
  },

  rankAllocation(peft: PeftModel): ((globalStep: number) => void) | null {
    return training.has(peft) ? (step: number) => updateAndAllocate(peft, step) : null;
  },

  deleteAdapter(peft: PeftModel, name: string): void {
    if (training.get(peft)?.name === name) training.delete(peft);
  },
};

/** The name of the adapter that trains (HF's trainable_adapter_name), or null. */
export function trainableAdapterName(peft: PeftModel): string | null {
  return training.get(peft)?.name ?? null;
}

registerTuner(adaloraTuner);

/**
 * Runs f (a Trainer checkpoint's save) with every AdaLoRA config's rank_pattern set aside, so the checkpoint
 * holds the adapters at full rank (pruned triplets are zeros in lora_E, as in training) and no pattern:
 * resuming loads them into freshly built init_r layers, and the allocator's next step masks again. The
 * final adapter (savePretrained outside a checkpoint) is cut by its pattern, as HF cuts it.
 */
export function withFullRankAdaLora<T>(peft: PeftModel, f: () => T): T {
  const set = [...peft.peftConfig.values()].filter((c): c is AdaLoraConfig => c.peftType === 'ADALORA' && (c as AdaLoraConfig).rankPattern !== null);
  const patterns = set.map((c) => c.rankPattern);
  for (const c of set) c.rankPattern = null;
  try {
    return f();
  } finally {
    set.forEach((c, i) => { c.rankPattern = patterns[i]; });
  }
}
