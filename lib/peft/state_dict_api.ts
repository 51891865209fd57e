/**
 * HF peft's functional adapter API (utils/save_and_load.py, mapping.py, utils/hotswap.py):
 * getPeftModelStateDict / setPeftModelStateDict (the adapter's tensors under the keys of its file, the
 * adapter name taken out: `base_model.model.<module>.lora_A.weight`), injectAdapterInModel (adapter layers in
 * a plain model, which stays what it was, no PeftModel around it) and hotswapAdapter (an adapter's weights
 * replaced in place from a saved folder; the model object and its layers stay).
 */
import * as path from 'path';
import type { RawTensor } from '../io/safetensors';
import type { Module } from '../nn/module';
import { noGrad } from '../tensor/autograd';
import { fromArray } from '../tensor/creation';
import { fill_ } from '../tensor/ops';
import { Tensor } from '../tensor/tensor';
import type { PeftConfig } from './config';
import { PeftModel } from './peft_model';
import { adapterToHfLayout } from './rope_layout';
import { ADAPTER_WEIGHTS, adapterStateDict, loadAdapterTensors, readAdapterConfig, readAdapterFile } from './save_load';
import { patternValue } from './targets';
import { type AdapterTensor, isAdapterLayer, tunerFor } from './tuner';
import type { LoraConfig } from './tuners/lora/config';

const PREFIX = 'base_model.model.';

/** The PeftModel that injectAdapterInModel put around each model it adapted (not visible to the user). */
const injected = new WeakMap<Module, PeftModel>();

function peftOf(model: Module, op: string): PeftModel {
  if (model instanceof PeftModel) return model;
  const peft = injected.get(model);
  if (!peft) throw new Error(`${op}: the model has no adapters (pass a PeftModel, or a model injectAdapterInModel adapted)`);
  return peft;
}

function checkName(peft: PeftModel, name: unknown, op: string): string {
  if (typeof name !== 'string' || !peft.peftConfig.has(name))
    throw new Error(`${op}: adapterName: no adapter named ${JSON.stringify(name)} (have ${[...peft.peftConfig.keys()].join(', ')})`);
  return name;
}

/**
 * HF's get_peft_model_state_dict: the adapter's tensors under the keys savePretrained writes (the adapter
 * name removed). The values are the adapter's own tensors, not copies (on a llama2.c base, q/k tensors
 * reordered to HF's layout are new ones).
 */
export function getPeftModelStateDict(model: Module, opts: { adapterName?: string } = {}): Map<string, AdapterTensor> {
  const op = 'getPeftModelStateDict';
  const peft = peftOf(model, op);
  const name = checkName(peft, opts.adapterName ?? 'default', op);
  const tuner = tunerFor(peft.peftConfig.get(name)!.peftType, op);
  const prefix = tuner.fileKeys ? '' : PREFIX;
  const hf = adapterToHfLayout(peft, name, adapterStateDict(peft, name));
  return new Map([...hf.tensors].map(([k, t]) => [prefix + k, t]));
}

function isRawInput(v: unknown): v is { dtype: string; shape: readonly number[]; data: ArrayLike<number | bigint> } {
  return typeof v === 'object' && v !== null && !(v instanceof Tensor) && 'dtype' in v && 'shape' in v && 'data' in v;
}

/**
 * HF's set_peft_model_state_dict: puts a state dict keyed as getPeftModelStateDict keys it into adapter
 * `adapterName` (which must exist, e.g. from injectAdapterInModel). The values are copied; the caller's
 * tensors are left as they are. As HF: keys the adapter lacks or does not get are returned
 * (`strict: true` makes them errors); a shape that differs is an error naming the key. Tuners that read
 * their own keys (VeRA, prompt learning, diff pruning) always check strictly.
 */
export function setPeftModelStateDict(model: Module, stateDict: Map<string, AdapterTensor> | Record<string, AdapterTensor>,
  opts: { adapterName?: string; strict?: boolean } = {}): { missingKeys: string[]; unexpectedKeys: string[] } {
  const op = 'setPeftModelStateDict';
  const peft = peftOf(model, op);
  const name = checkName(peft, opts.adapterName ?? 'default', op);
  if (typeof stateDict !== 'object' || stateDict === null) throw new TypeError(`${op}: stateDict must be a Map or an object of tensors, got ${String(stateDict)}`);
  const entries = stateDict instanceof Map ? [...stateDict] : Object.entries(stateDict);
  const loaded = new Map<string, Tensor>();
  const raw = new Map<string, RawTensor>();
  try {
    for (const [key, v] of entries) {
      if (v instanceof Tensor) loaded.set(key, noGrad(() => fromArray(v.toFloat32Array(), [...v.shape])));
      else if (isRawInput(v)) {
        raw.set(key, { dtype: v.dtype, shape: [...v.shape], data: v.data } as RawTensor);
        loaded.set(key, noGrad(() => fromArray(Float32Array.from(v.data as ArrayLike<number | bigint>, Number), [...v.shape])));
      } else throw new TypeError(`${op}: stateDict['${key}'] is not a tensor`);
    }
    return loadAdapterTensors(peft, name, loaded, raw, 'state dict', { strict: opts.strict ?? false });
  } finally {
    for (const t of loaded.values()) t.dispose();
  }
}

/**
 * HF's inject_adapter_in_model: adds adapter layers for `config` to a plain model in place (its base
 * parameters frozen, as HF's tuner freezes them) and returns that same model, not a PeftModel. A second call
 * on the same model adds another adapter. get/setPeftModelStateDict and hotswapAdapter accept the model.
 * Prompt learning methods are refused, as HF refuses them.
 */
export function injectAdapterInModel<M extends Module>(config: PeftConfig, model: M, adapterName = 'default'): M {
  const op = 'injectAdapterInModel';
  if (model instanceof PeftModel) throw new Error(`${op}: the model is a PeftModel already; use its addAdapter()`);
  if (typeof config !== 'object' || config === null || typeof (config as PeftConfig).peftType !== 'string')
    throw new TypeError(`${op}: config must be a PeftConfig (LoraConfig, ...), got ${String(config)}`);
  const tuner = tunerFor(config.peftType, op);
  if (tuner.forward) throw new Error(`${op}: does not support prompt learning methods (${config.peftType}); use getPeftModel`);
  const existing = injected.get(model);
  if (existing) existing.addAdapter(adapterName, config);
  else injected.set(model, new PeftModel(model, config, adapterName));
  return model;
}

/**
 * Config keys that do not change what a loaded adapter computes (initialisation, bookkeeping), or that the
 * key and shape checks cover (which modules are adapted).
 */
const HOTSWAP_IGNORED = new Set(['base_model_name_or_path', 'revision', 'inference_mode', 'task_type', 'peft_version', 'auto_mapping',
  'target_modules', 'exclude_modules', 'layers_to_transform', 'layers_pattern', 'modules_to_save', 'init_weights', 'init_lora_weights']);
/** HF's CONFIG_KEYS_TO_CHECK for LoRA (r, lora_alpha and rank_pattern set the scaling instead, as HF's hotswap does). */
const HOTSWAP_LORA_CHECKED = ['use_rslora', 'lora_dropout', 'alpha_pattern', 'use_dora'];

/** The config fields two adapters must agree on to swap one's weights for the other's. */
function keysToCheck(a: PeftConfig, b: PeftConfig): string[] {
  if (a.peftType === 'LORA') return HOTSWAP_LORA_CHECKED;
  // keys peftjs has no field for (kept in `extra`) cannot change what peftjs computes
  const extra = new Set([...Object.keys(a.extra), ...Object.keys(b.extra)]);
  return [...new Set([...Object.keys(a.toJSON()), ...Object.keys(b.toJSON())])].filter((k) => !HOTSWAP_IGNORED.has(k) && !extra.has(k));
}

const shapeOf = (t: AdapterTensor) => [...t.shape].join(', ');

/**
 * HF's hotswap_adapter: replaces the weights of the existing adapter `adapterName` by those of the adapter
 * folder `dir`, in place (the model object, its layers and the adapter's tensors stay; only values change).
 * The folder must hold the same method with the same settings (for LoRA, HF's checked keys: use_rslora,
 * lora_dropout, alpha_pattern, use_dora; lora_alpha and r may differ and set the scaling), the same keys and
 * the same shapes; otherwise an error names the config field, the key or the shapes, and nothing changes. A
 * LoRA folder lacking some of the adapter's keys zeroes those (HF: they then do not influence the output).
 */
export function hotswapAdapter(model: Module, dir: string, adapterName = 'default'): void {
  const op = 'hotswapAdapter';
  const peft = peftOf(model, op);
  const name = checkName(peft, adapterName, op);
  const old = peft.peftConfig.get(name)!;
  const config = readAdapterConfig(dir);
  if (config.peftType !== old.peftType)
    throw new Error(`${op}: incompatible PEFT types: adapter '${name}' is ${old.peftType} but ${dir} holds ${config.peftType}`);
  const isLora = config.peftType === 'LORA';
  const a = old.toJSON(), b = config.toJSON();
  for (const key of keysToCheck(old, config)) {
    if (JSON.stringify(a[key]) !== JSON.stringify(b[key]))
      throw new Error(`${op}: configs are incompatible: for ${key}, ${JSON.stringify(a[key])} != ${JSON.stringify(b[key])} (adapter '${name}' vs ${path.join(dir, 'adapter_config.json')})`);
  }
  const file = path.join(dir, ADAPTER_WEIGHTS);
  const own = getPeftModelStateDict(peft, { adapterName: name });
  const { loaded, raw } = readAdapterFile(file);
  try {
    // dry run: nothing changes unless every key and shape fits
    const unexpected = [...loaded.keys()].filter((k) => !own.has(k));
    if (unexpected.length) throw new Error(`${op}: ${file} does not fit adapter '${name}': unexpected key(s) ${unexpected.slice(0, 6).map((k) => `'${k}'`).join(', ')}`);
    const missing = [...own.keys()].filter((k) => !loaded.has(k));
    if (missing.length && !isLora) throw new Error(`${op}: ${file} does not fit adapter '${name}': missing key(s) ${missing.slice(0, 6).map((k) => `'${k}'`).join(', ')}`);
    for (const [k, t] of loaded) {
      if (shapeOf(t) !== shapeOf(own.get(k)!))
        throw new Error(`${op}: ${file}: '${k}' has shape [${shapeOf(t)}], adapter '${name}' has [${shapeOf(own.get(k)!)}]; hotswapping needs the same shapes`);
    }
    const live = adapterStateDict(peft, name);   // the adapter's own tensors (own may hold reordered copies)
    for (const k of missing) {
      const t = live.get(k.startsWith(PREFIX) ? k.slice(PREFIX.length) : k);
      if (t instanceof Tensor) noGrad(() => fill_(t, 0));
    }
    loadAdapterTensors(peft, name, loaded, raw, file, { strict: !isLora });
  } finally {
    for (const t of loaded.values()) t.dispose();
  }
  if (isLora) updateLoraScaling(peft, name, config as LoraConfig);
  config.inferenceMode = old.inferenceMode;
  peft.peftConfig.set(name, config);
}

/** HF's _update_scaling: each layer's scale from the new config's r / alpha (and their patterns). */
function updateLoraScaling(peft: PeftModel, name: string, config: LoraConfig): void {
  for (const [p, m] of peft.model.namedModules()) {
    if (!isAdapterLayer(m)) continue;
    const spec = (m as unknown as { specs?: Map<string, { r: number; alpha: number; scale: number }> }).specs?.get(name);
    if (!spec || typeof spec.scale !== 'number') continue;
    const r = patternValue(config.rankPattern, p, config.r);
    const alpha = patternValue(config.alphaPattern, p, config.loraAlpha);
    spec.alpha = alpha;
    spec.scale = config.scaling(r, alpha);
  }
}
