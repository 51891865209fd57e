/**
 * Adapters on disk in HF peft's layout: adapter_config.json (sorted snake_case keys) and
 * adapter_model.safetensors with HF's keys — the adapter name stripped and `base_model.model.` in front
 * (`base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight`). The default adapter sits in the
 * folder itself, others in subfolders named after them. Writes are atomic.
 */
import * as fs from 'fs';
import * as path from 'path';
import { writeFileAtomic } from '../io/atomic';
import { FileFormatError } from '../io/errors';
import { isFloatDtype, type RawTensor, SafetensorsFile, saveSafetensors } from '../io/safetensors';
import { copyInto, type Module } from '../nn/module';
import { Tensor as TensorClass, type Tensor } from '../tensor/tensor';
import { type PeftConfig, peftConfigFromJSON } from './config';
import { installAdapterIo, PeftModel } from './peft_model';
import { adapterFromHfLayout, adapterToHfLayout } from './rope_layout';
import { type AdapterTensor, tunerFor } from './tuner';

export const ADAPTER_CONFIG = 'adapter_config.json';
export const ADAPTER_WEIGHTS = 'adapter_model.safetensors';
const PREFIX = 'base_model.model.';

/** A parameter path with the adapter's name (and a modules_to_save level) taken out: HF's saved key. */
export function savedKey(pathInModel: string, name: string): string {
  const parts = pathInModel.split('.');
  const out: string[] = [];
  for (let i = 0; i < parts.length; i++) {
    if (parts[i] === 'modules_to_save' && parts[i + 1] === name) {
      i++;
      continue;
    }
    if (parts[i] === name && i > 0) continue;
    out.push(parts[i]);
  }
  return out.join('.');
}

/** The adapter's tensors under their saved keys (relative to the base model, without base_model.model.). */
export function adapterStateDict(peft: PeftModel, name: string): Map<string, AdapterTensor> {
  const config = peft.peftConfig.get(name);
  if (!config) throw new Error(`adapterStateDict: no adapter named '${name}'`);
  const tuner = tunerFor(config.peftType, 'adapterStateDict');
  if (tuner.stateDict) return tuner.stateDict(peft, name);
  return new Map(peft.adapterParameters(name).map(([p, t]) => [savedKey(p, name), t]));
}

/** Writes every adapter (or the named ones) of the model. */
export function savePretrained(peft: PeftModel, dir: string, opts: { selectedAdapters?: string[] } = {}): void {
  const names = opts.selectedAdapters ?? [...peft.peftConfig.keys()];
  for (const name of names) {
    const config = peft.peftConfig.get(name);
    if (!config) throw new Error(`savePretrained: no adapter named '${name}'`);
    const out = name === 'default' ? dir : path.join(dir, name);
    fs.mkdirSync(out, { recursive: true });
    const tensors: Record<string, AdapterTensor> = {};
    const prefix = tunerFor(config.peftType, 'savePretrained').fileKeys ? '' : PREFIX;
    // On a llama2.c base, q/k tensors go to HF's rotate_half order, as saveModelFolder writes the base.
    const hf = adapterToHfLayout(peft, name, adapterStateDict(peft, name));
    try {
      for (const [k, t] of hf.tensors) tensors[prefix + k] = t;
      saveSafetensors(path.join(out, ADAPTER_WEIGHTS), tensors, { format: 'pt' });
    } finally {
      for (const t of hf.made) t.dispose();
    }
    const json = { ...config.toJSON(), inference_mode: true };
    writeFileAtomic(path.join(out, ADAPTER_CONFIG), (fd) => fs.writeSync(fd, `${JSON.stringify(json, null, 2)}\n`));
  }
}

/**
 * Runs fn, which fits the config read from `file` to a model; an error it throws (a reduction factor
 * that leaves no bottleneck, targets the model lacks) gets the file's path in front, as the config's
 * own checks have it: the file is what has to change.
 */
function blamingConfig<T>(dir: string, fn: () => T): T {
  const file = path.join(dir, ADAPTER_CONFIG);
  try {
    return fn();
  } catch (e) {
    if (e instanceof Error && !e.message.includes(file)) e.message = `${file}: ${e.message}`;
    throw e;
  }
}

/** The config of an adapter folder (its adapter_config.json), checked. */
export function readAdapterConfig(dir: string): PeftConfig {
  const file = path.join(dir, ADAPTER_CONFIG);
  if (!fs.existsSync(file)) throw new Error(`loading an adapter: ${file} does not exist (is ${dir} an adapter folder?)`);
  let dict: Record<string, unknown>;
  try {
    dict = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new FileFormatError('adapter config', file, (e as Error).message);
  }
  return peftConfigFromJSON(dict, file);
}

/** Every tensor of an adapter file under its file key: float32 Tensors, and the integer-dtype ones exactly. */
export function readAdapterFile(file: string): { loaded: Map<string, Tensor>; raw: Map<string, RawTensor> } {
  if (!fs.existsSync(file)) throw new Error(`loading an adapter: ${file} does not exist`);
  const st = SafetensorsFile.open(file);
  try {
    const loaded = new Map<string, Tensor>();
    const raw = new Map<string, RawTensor>();
    for (const info of st.list()) {
      loaded.set(info.name, st.load(info.name));
      if (!isFloatDtype(info.dtype)) raw.set(info.name, st.loadRaw(info.name));
    }
    return { loaded, raw };
  } finally {
    st.close();
  }
}

/**
 * Puts tensors keyed as an adapter file keys them (`base_model.model.<...>`, or the tuner's own file keys)
 * into adapter `name`. `loaded` holds every entry as float32 (the caller disposes it after; entries
 * reordered for a llama2.c base are replaced and disposed here), `raw` the integer entries exactly; `file`
 * names the source in errors. Strict (default): a missing or unexpected key is an error, as loading a folder;
 * otherwise (HF's set_peft_model_state_dict) they are returned. A misshapen key is always an error.
 */
export function loadAdapterTensors(peft: PeftModel, name: string, fileKeyed: Map<string, Tensor>, rawByFileKey: Map<string, RawTensor>, file: string,
  opts: { strict?: boolean } = {}): { missingKeys: string[]; unexpectedKeys: string[] } {
  const strict = opts.strict ?? true;
  const config = peft.peftConfig.get(name);
  if (!config) throw new Error(`loading an adapter: no adapter named '${name}'`);
  const tuner = tunerFor(config.peftType, 'loadAdapter');
  const loaded = new Map<string, Tensor>();
  const raw = new Map<string, RawTensor>();
  const foreign: string[] = [];
  for (const [key, t] of fileKeyed) {
    let local = key;
    if (!tuner.fileKeys) {
      if (!key.startsWith(PREFIX)) {
        if (strict) throw new FileFormatError('adapter weights', file, `tensor '${key}' does not start with '${PREFIX}'`);
        foreign.push(key);
        continue;
      }
      local = key.slice(PREFIX.length);
    }
    loaded.set(local, t);
    const r = rawByFileKey.get(key);
    if (r) raw.set(local, r);
  }
  adapterFromHfLayout(peft, name, loaded, raw);
  // entries the relayout replaced are new tensors: the caller's map gets them, so that it disposes them
  for (const [local, t] of loaded) {
    const key = tuner.fileKeys ? local : PREFIX + local;
    if (fileKeyed.get(key) !== t) fileKeyed.set(key, t);
  }
  if (tuner.loadStateDict) {
    tuner.loadStateDict(peft, name, loaded, file, raw);
    return { missingKeys: [], unexpectedKeys: foreign };
  }
  const prefix = tuner.fileKeys ? '' : PREFIX;
  const r = loadByKeys(floatOnly(adapterStateDict(peft, name)), loaded, file, { strict });
  return { missingKeys: r.missingKeys.map((k) => prefix + k), unexpectedKeys: [...foreign, ...r.unexpectedKeys.map((k) => prefix + k)] };
}

/** Reads the weights of an adapter folder into adapter `name`, checking the keys against what the adapter holds. */
export function loadAdapterWeights(peft: PeftModel, name: string, dir: string): void {
  const file = path.join(dir, ADAPTER_WEIGHTS);
  const { loaded, raw } = readAdapterFile(file);
  try {
    loadAdapterTensors(peft, name, loaded, raw, file);
  } finally {
    for (const t of loaded.values()) t.dispose();
  }
}

function floatOnly(own: Map<string, AdapterTensor>): Map<string, Tensor> {
  for (const [k, t] of own) if (!(t instanceof TensorClass)) throw new Error(`loading an adapter: '${k}' is a raw entry; its tuner must provide loadStateDict`);
  return own as Map<string, Tensor>;
}

/**
 * Copies saved tensors into the adapter's; a misshapen key is an error naming it (checked before anything
 * is copied), and so is a missing or unexpected one unless opts.strict is false (then they are returned).
 */
export function loadByKeys(own: Map<string, Tensor>, loaded: Map<string, Tensor>, file: string,
  opts: { strict?: boolean } = {}): { missingKeys: string[]; unexpectedKeys: string[] } {
  const missing = [...own.keys()].filter((k) => !loaded.has(k));
  const unexpected = [...loaded.keys()].filter((k) => !own.has(k));
  if ((opts.strict ?? true) && (missing.length || unexpected.length)) {
    const list = (ks: string[]) => ks.slice(0, 6).map((k) => `'${k}'`).join(', ') + (ks.length > 6 ? ', ...' : '');
    throw new FileFormatError('adapter weights', file,
      [missing.length ? `missing ${missing.length} key(s): ${list(missing)}` : '', unexpected.length ? `unexpected ${unexpected.length} key(s): ${list(unexpected)}` : '']
        .filter(Boolean).join('; '));
  }
  for (const [k, t] of own) {
    const src = loaded.get(k);
    if (src && src.shape.join(',') !== t.shape.join(','))
      throw new FileFormatError('adapter weights', file, `'${k}' has shape [${src.shape.join(', ')}], the model's adapter has [${t.shape.join(', ')}]`);
  }
  for (const [k, t] of own) {
    const src = loaded.get(k);
    if (src) copyInto(t, src);
  }
  return { missingKeys: missing, unexpectedKeys: unexpected };
}

/** Loads an adapter folder onto a model: HF's PeftModel.from_pretrained. Frozen unless isTrainable. */
export function fromPretrained<M extends Module>(model: M, dir: string, opts: { adapterName?: string; isTrainable?: boolean } = {}): PeftModel<M> {
  const config = readAdapterConfig(dir);
  config.inferenceMode = !(opts.isTrainable ?? false);
  const name = opts.adapterName ?? 'default';
  const peft = blamingConfig(dir, () => new PeftModel(model, config, name));
  loadAdapterWeights(peft, name, dir);
  return peft;
}

/** Adds a saved adapter to a PeftModel under a new name. */
export function loadAdapter(peft: PeftModel, dir: string, name: string, opts: { isTrainable?: boolean } = {}): void {
  const config = readAdapterConfig(dir);
  config.inferenceMode = !(opts.isTrainable ?? false);
  blamingConfig(dir, () => peft.addAdapter(name, config));
  loadAdapterWeights(peft, name, dir);
}

installAdapterIo({ save: savePretrained, fromPretrained, loadAdapter });
