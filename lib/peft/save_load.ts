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
import { peftConfigFromJSON } from './config';
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

function readAdapterConfig(dir: string) {
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

/** Reads the weights of an adapter folder into adapter `name`, checking the keys against what the adapter holds. */
export function loadAdapterWeights(peft: PeftModel, name: string, dir: string): void {
  const file = path.join(dir, ADAPTER_WEIGHTS);
  if (!fs.existsSync(file)) throw new Error(`loading an adapter: ${file} does not exist`);
  const config = peft.peftConfig.get(name)!;
  const tuner = tunerFor(config.peftType, 'loadAdapter');
  const st = SafetensorsFile.open(file);
  try {
    const loaded = new Map<string, Tensor>();
    const raw = new Map<string, RawTensor>();
    for (const info of st.list()) {
      const key = info.name;
      let local = key;
      if (!tuner.fileKeys) {
        if (!key.startsWith(PREFIX)) throw new FileFormatError('adapter weights', file, `tensor '${key}' does not start with '${PREFIX}'`);
        local = key.slice(PREFIX.length);
      }
      loaded.set(local, st.load(key));
      if (!isFloatDtype(info.dtype)) raw.set(local, st.loadRaw(key));
    }
    try {
      adapterFromHfLayout(peft, name, loaded, raw);
      if (tuner.loadStateDict) tuner.loadStateDict(peft, name, loaded, file, raw);
      else loadByKeys(floatOnly(adapterStateDict(peft, name)), loaded, file);
    } finally {
      for (const t of loaded.values()) t.dispose();
    }
  } finally {
    st.close();
  }
}

function floatOnly(own: Map<string, AdapterTensor>): Map<string, Tensor> {
  for (const [k, t] of own) if (!(t instanceof TensorClass)) throw new Error(`loading an adapter: '${k}' is a raw entry; its tuner must provide loadStateDict`);
  return own as Map<string, Tensor>;
}

/** Copies saved tensors into the adapter's; a missing, unexpected or misshapen key is an error naming it. */
export function loadByKeys(own: Map<string, Tensor>, loaded: Map<string, Tensor>, file: string): void {
  const missing = [...own.keys()].filter((k) => !loaded.has(k));
  const unexpected = [...loaded.keys()].filter((k) => !own.has(k));
  if (missing.length || unexpected.length) {
    const list = (ks: string[]) => ks.slice(0, 6).map((k) => `'${k}'`).join(', ') + (ks.length > 6 ? ', ...' : '');
    throw new FileFormatError('adapter weights', file,
      [missing.length ? `missing ${missing.length} key(s): ${list(missing)}` : '', unexpected.length ? `unexpected ${unexpected.length} key(s): ${list(unexpected)}` : '']
        .filter(Boolean).join('; '));
  }
  for (const [k, t] of own) {
    const src = loaded.get(k)!;
    if (src.shape.join(',') !== t.shape.join(','))
      throw new FileFormatError('adapter weights', file, `'${k}' has shape [${src.shape.join(', ')}], the model's adapter has [${t.shape.join(', ')}]`);
    copyInto(t, src);
  }
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
