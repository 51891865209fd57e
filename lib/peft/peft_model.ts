/**
 * PeftModel: a base model with one or more adapters, HF peft's API. The base model is adapted in place
 * (targeted modules replaced by adapter layers) and registered as `base_model.model`, so parameter paths
 * read as HF's (`base_model.model.model.layers.0.self_attn.q_proj.lora_A.default.weight`).
 */
import { withForwardState } from '../tensor/checkpoint';
import { Module } from '../nn/module';
import type { Tensor } from '../tensor/tensor';
import type { PeftConfig } from './config';
import { BASE_ADAPTER_NAME, mixedBatchUnsupported } from './mixed_batch';
import { isModulesToSave, ModulesToSaveWrapper } from './modules_to_save';
import { type AdapterLayer, isAdapterLayer, tunerFor, type WeightedAdapterOptions } from './tuner';
import type { Linear } from '../nn/layers/linear';
import { quantizedLayer } from '../quant/quantize_model';
import { type HubOptions, resolveModelPath } from '../io/hub';
import type { PeftMixedModel } from './mixed_model';

/** Holds the adapted model under the name `model`, as HF's tuner models (LoraModel, ...) do. */
class TunerModel extends Module {
  constructor(readonly model: Module) {
    super();
    this.registerModule('model', model);
  }
}

export interface ModulesToSaveConfig {
  modulesToSave?: string[] | null;
}

/** Saving and loading live in save_load.ts, which installs itself here (it imports this file). */
export interface AdapterIo {
  save(peft: PeftModel, dir: string, opts: { selectedAdapters?: string[] }): void;
  fromPretrained<M extends Module>(model: M, dir: string, opts: { adapterName?: string; isTrainable?: boolean }): PeftModel<M>;
  loadAdapter(peft: PeftModel, dir: string, name: string, opts: { isTrainable?: boolean }): void;
}
let adapterIo: AdapterIo | null = null;
export function installAdapterIo(io: AdapterIo): void {
  adapterIo = io;
}
function io(): AdapterIo {
  if (!adapterIo) throw new Error('peft: adapter saving and loading are not loaded (import peftjs, not a single file)');
  return adapterIo;
}

export class PeftModel<M extends Module = Module> extends Module {
  readonly base_model: TunerModel;
  readonly peftConfig = new Map<string, PeftConfig>();
  protected active: string[] = [];
  private adaptersDisabled = false;

  constructor(model: M, config: PeftConfig, adapterName = 'default') {
    super();
    this.base_model = this.registerModule('base_model', new TunerModel(model));
    model.freeze();
    this.addAdapter(adapterName, config);
  }

  /** The adapted model itself (its modules are the adapter layers now). */
  get model(): M {
    return this.base_model.model as M;
  }

  /** The adapter that runs (the first, when several are active). */
  get activeAdapter(): string {
    return this.active[0];
  }

  get activeAdapters(): readonly string[] {
    return this.active;
  }

  /** Adds an adapter (its weights train) and makes it the active one. */
  addAdapter(name: string, config: PeftConfig): void {
    if (typeof name !== 'string' || name === '' || name.includes('.')) throw new Error(`addAdapter: an adapter name must be a non-empty string without '.', got '${String(name)}'`);
    if (this.peftConfig.has(name)) throw new Error(`addAdapter: an adapter named '${name}' already exists`);
    config.validate();
    const first = this.peftConfig.size > 0 ? this.peftConfig.values().next().value! : null;
    if (first && first.peftType !== config.peftType)
      throw new Error(`addAdapter: this model holds ${first.peftType} adapters; a ${config.peftType} adapter cannot join them`);
    const tuner = tunerFor(config.peftType, 'addAdapter');
    tuner.inject(this, config, name);
    this.peftConfig.set(name, config);
    this.wrapModulesToSave(config, name);
    for (const p of tuner.trainedBaseParameters?.(this, config) ?? []) this.model.getParameter(p).requiresGrad = !config.inferenceMode;
    this.setAdapter(name);
    if (config.inferenceMode) this.setAdapterTrainable(name, false);
  }

  /** Writes the adapters in HF peft's layout (adapter_config.json + adapter_model.safetensors; others in subfolders). */
  savePretrained(dir: string, opts: { selectedAdapters?: string[] } = {}): void {
    io().save(this, dir, opts);
  }

  /**
   * Loads an adapter folder, or a Hub id ('org/name': from the Hugging Face cache or downloaded into it),
   * onto a base model (frozen unless isTrainable): HF's PeftModel.from_pretrained.
   */
  static fromPretrained<M extends Module>(model: M, idOrDir: string, opts: { adapterName?: string; isTrainable?: boolean } & HubOptions = {}): PeftModel<M> {
    const dir = resolveModelPath(idOrDir, { ...opts, files: 'adapter' });
    return io().fromPretrained(model, dir, { adapterName: opts.adapterName, isTrainable: opts.isTrainable });
  }

  /** Adds a saved adapter (a folder or a Hub id) under a new name. */
  loadAdapter(idOrDir: string, name: string, opts: { isTrainable?: boolean } & HubOptions = {}): void {
    const dir = resolveModelPath(idOrDir, { ...opts, files: 'adapter' });
    io().loadAdapter(this, dir, name, { isTrainable: opts.isTrainable });
  }

  /** Makes one adapter (or several, summed, where the method allows) the active one(s). */
  setAdapter(names: string | string[]): void {
    const list = typeof names === 'string' ? [names] : [...names];
    if (list.length === 0) throw new Error('setAdapter: name at least one adapter');
    for (const n of list) if (!this.peftConfig.has(n)) throw new Error(`setAdapter: no adapter named '${n}' (have ${[...this.peftConfig.keys()].join(', ')})`);
    this.active = list;
    for (const [, m] of this.model.namedModules()) {
      if (isAdapterLayer(m)) m.setActiveAdapters(list.filter((n) => m.adapterNames().includes(n)));
      else if (isModulesToSave(m)) m.activeAdapter = list.find((n) => m.hasAdapter(n)) ?? null;
    }
  }

  deleteAdapter(name: string): void {
    const config = this.peftConfig.get(name);
    if (!config) throw new Error(`deleteAdapter: no adapter named '${name}'`);
    tunerFor(config.peftType, 'deleteAdapter').deleteAdapter?.(this, name);
    for (const [, m] of this.model.namedModules()) {
      if (isAdapterLayer(m) && m.adapterNames().includes(name)) m.deleteAdapter(name);
      if (isModulesToSave(m) && m.hasAdapter(name)) m.deleteAdapter(name);
    }
    this.peftConfig.delete(name);
    const remaining = this.active.filter((n) => n !== name);
    if (remaining.length > 0) this.setAdapter(remaining);
    else if (this.peftConfig.size > 0) this.setAdapter(this.peftConfig.keys().next().value!);
    else this.active = [];
  }

  /** Runs fn with every adapter off: the base model's outputs. */
  disableAdapter<T>(fn: () => T): T {
    this.setDisabled(true);
    try {
      return fn();
    } finally {
      this.setDisabled(false);
    }
  }

  get adaptersAreDisabled(): boolean {
    return this.adaptersDisabled;
  }

  private setDisabled(disabled: boolean): void {
    this.adaptersDisabled = disabled;
    for (const [, m] of this.model.namedModules()) if (isAdapterLayer(m) || isModulesToSave(m)) m.disabled = disabled;
    const types = new Set([...this.peftConfig.values()].map((c) => c.peftType));
    for (const t of types) tunerFor(t, 'disableAdapter').setDisabled?.(this, disabled);
  }

  /** Whether an adapter's own weights train. */
  setAdapterTrainable(name: string, trainable: boolean): void {
    for (const [, t] of this.adapterParameters(name)) t.requiresGrad = trainable;
  }

  /** The adapter's parameters with their paths in the base model (names included, not stripped). */
  adapterParameters(name: string): [string, Tensor][] {
    const config = this.peftConfig.get(name);
    if (!config) throw new Error(`adapterParameters: no adapter named '${name}'`);
    const tuner = tunerFor(config.peftType, 'adapterParameters');
    const prefixes = new Set([...tuner.adapterPrefixes, 'modules_to_save']);
    const base = new Set(tuner.trainedBaseParameters?.(this, config) ?? []);
    const inModel = this.model.namedParameters().filter(([path]) => {
      if (base.has(path)) return true;
      const parts = path.split('.');
      return parts.some((p, i) => i > 0 && p === name && prefixes.has(parts[i - 1]));
    });
    return [...inModel, ...(tuner.extraParameters?.(this, name) ?? [])];
  }

  /**
   * Calls the model (prompt-learning methods put their virtual tokens or prefixes in first). With
   * `adapterNames` (one per sample, BASE_ADAPTER_NAME '__base__' for none) each sample runs its own
   * adapter: HF's mixed batch (LoRA and IA3; see mixed_batch.ts), in training as in eval mode.
   */
  forward(inputs: unknown): unknown {
    const mixed = (inputs as { adapterNames?: unknown } | null)?.adapterNames;
    if (mixed !== undefined && mixed !== null) return this.mixedBatchForward(inputs as Record<string, unknown>, mixed);
    const config = this.peftConfig.get(this.activeAdapter);
    const tuner = config ? tunerFor(config.peftType, 'forward') : null;
    if (tuner?.forward && !this.adaptersDisabled) return tuner.forward(this, inputs, this.activeAdapter);
    const out = (this.model as unknown as { forward(i: unknown): unknown }).forward(inputs);
    tuner?.afterForward?.(this, out);
    return out;
  }

  /**
   * AdaLoRA's rank allocation (HF's AdaLoraModel.update_and_allocate): call it after optimizer.step() and
   * before zeroGrad() (it reads the gradients) with the 0-based index of the step just taken; the Trainer
   * does so itself. An error for a model without one (not AdaLoRA, or no trainable adapter).
   */
  updateAndAllocate(globalStep: number): void {
    const step = this.rankAllocation();
    if (!step) throw new Error(`updateAndAllocate: this model has no rank allocation (${[...new Set([...this.peftConfig.values()].map((c) => c.peftType))].join(', ')} adapters; AdaLoRA with a trainable adapter has one)`);
    step(globalStep);
  }

  /** updateAndAllocate bound to this model, or null when it has none. */
  rankAllocation(): ((globalStep: number) => void) | null {
    const config = this.peftConfig.values().next().value;
    return config ? tunerFor(config.peftType, 'updateAndAllocate').rankAllocation?.(this) ?? null : null;
  }

  /**
   * HF's _enable_peft_forward_hooks: checks the names, hands them to every adapter layer for this one
   * call (HF's pre-forward hook) and takes them back after. Unlike HF, training mode is allowed: the
   * mixed kernels give each adapter the gradient of its own samples.
   */
  private mixedBatchForward(inputs: Record<string, unknown>, names: unknown): unknown {
    const op = 'forward with adapterNames';
    if (!Array.isArray(names) || names.length === 0 || names.some((n) => typeof n !== 'string'))
      throw new TypeError(`${op}: adapterNames must be a non-empty array of adapter names, one per sample`);
    const unknown = [...new Set(names as string[])].filter((n) => n !== BASE_ADAPTER_NAME && !this.peftConfig.has(n));
    if (unknown.length) throw new Error(`${op}: trying to infer with non-existing adapter(s): ${unknown.sort().join(', ')}`);
    const ids = inputs.inputIds as { shape?: readonly number[] } | undefined;
    const batch = ids?.shape?.[0] ?? (inputs.inputsEmbeds as { shape?: readonly number[] } | undefined)?.shape?.[0];
    if (batch !== undefined && batch !== names.length)
      throw new RangeError(`${op}: length of adapterNames should be the same as the number of inputs, but got ${names.length} and ${batch} respectively`);
    const config = this.peftConfig.get(this.activeAdapter) ?? this.peftConfig.values().next().value;
    if (!config) throw new Error(`${op}: this model holds no adapters`);
    const peftType = config.peftType;
    const layers = this.model.namedModules().map(([, m]) => m);
    const adapted = layers.filter(isAdapterLayer);
    if (tunerFor(peftType, op).forward || adapted.length === 0) throw mixedBatchUnsupported(peftType);
    const unable = adapted.find((m) => !m.setMixedBatch);
    if (unable) throw mixedBatchUnsupported(peftType, unable.constructor.name);
    if (layers.some(isModulesToSave)) throw new Error(`${op}: mixed batches with modulesToSave are not supported`);
    const { adapterNames: _, ...rest } = inputs;
    const frozen = Object.freeze([...(names as string[])]);
    const setNames = (n: readonly string[] | null) => { for (const m of adapted) m.setMixedBatch!(n); };
    // A checkpointed block recomputes during the backward, after this call: it gets the same names then.
    const reinstate = () => () => { setNames(frozen); return () => setNames(null); };
    setNames(frozen);
    try {
      return withForwardState(reinstate, () => (this.model as unknown as { forward(i: unknown): unknown }).forward(rest));
    } finally {
      setNames(null);
    }
  }

  /**
   * HF's add_weighted_adapter: a new adapter `name` combined from `adapters` with `weights`
   * ('linear' | 'cat' | 'svd' for LoRA); it is added frozen and inactive.
   */
  addWeightedAdapter(adapters: string[], weights: number[], name: string, combinationType = 'svd', opts: WeightedAdapterOptions = {}): void {
    const config = this.peftConfig.get(adapters?.[0]);
    if (!config) throw new Error(`addWeightedAdapter: adapter ${adapters?.[0]} does not exist`);
    const tuner = tunerFor(config.peftType, 'addWeightedAdapter');
    if (!tuner.addWeightedAdapter) throw new Error(`addWeightedAdapter: ${config.peftType} adapters cannot be combined`);
    tuner.addWeightedAdapter(this, adapters, weights, name, combinationType, opts);
  }

  /** Trainable and total parameter counts (shared tensors counted once), as HF's get_nb_trainable_parameters. */
  getNbTrainableParameters(): { trainable: number; all: number } {
    return { trainable: this.numParameters({ trainableOnly: true }), all: this.numParameters() };
  }

  /** Prints HF's line: `trainable params: 294,912 || all params: 124,734,720 || trainable%: 0.2364`. */
  printTrainableParameters(log: (line: string) => void = console.log): void {
    log(trainableParametersLine(this.getNbTrainableParameters()));
  }

  /** Folds the active (or named) adapters into the base weights; outputs stay the same. */
  merge(names?: string[]): void {
    const list = names ?? [...this.active];
    for (const n of list) {
      const config = this.peftConfig.get(n);
      if (config && tunerFor(config.peftType, 'merge').mergeable === false)
        throw new Error(`merge: ${config.peftType} adapters ('${n}') have no weights to fold into the base model; keep the PeftModel to use them`);
    }
    for (const [, m] of this.model.namedModules()) if (isAdapterLayer(m)) m.merge(list.filter((n) => m.adapterNames().includes(n)));
  }

  unmerge(): void {
    for (const [, m] of this.model.namedModules()) if (isAdapterLayer(m)) m.unmerge();
  }

  /**
   * Merges the active adapters and returns the base model with its original modules back (HF's
   * merge_and_unload). Layers whose base was low-precision (bf16, fp16, int8, nf4) were dequantized to merge;
   * they come back stored as bfloat16 (opts.dtype, default), or as float32 Linears ('float32').
   */
  mergeAndUnload(opts: { dtype?: 'bfloat16' | 'float32' } = {}): M {
    const dtype = opts.dtype ?? 'bfloat16';
    if (dtype !== 'bfloat16' && dtype !== 'float32') throw new RangeError(`mergeAndUnload: dtype must be 'bfloat16' or 'float32', got '${String(dtype)}'`);
    this.merge();
    const dequantized = this.model.namedModules().filter(([, m]) => isAdapterLayer(m) && m.dequantizedBaseCompute)
      .map(([path, m]) => [path, (m as AdapterLayer).dequantizedBaseCompute!] as const);
    const model = this.unload();
    if (dtype === 'bfloat16') {
      for (const [path, computeDtype] of dequantized) {
        const linear = model.getSubmodule(path) as Linear;
        model.setSubmodule(path, quantizedLayer(linear, linear.weight, { format: 'bfloat16', computeDtype }));
        linear.weight.dispose();
      }
    }
    return model;
  }

  /** The base model with its original modules back, adapters dropped (merged ones stay folded in). */
  unload(): M {
    const model = this.model;
    for (const type of new Set([...this.peftConfig.values()].map((c) => c.peftType))) tunerFor(type, 'unload').unload?.(this);
    for (const [path, m] of model.namedModules()) {
      if (path === '') continue;
      if (isAdapterLayer(m)) model.setSubmodule(path, m.base_layer);
      else if (isModulesToSave(m)) model.setSubmodule(path, m.active);
    }
    return model;
  }

  protected wrapModulesToSave(config: PeftConfig, name: string): void {
    const targets = (config as ModulesToSaveConfig).modulesToSave;
    if (!targets || targets.length === 0) return;
    let found = 0;
    for (const [path, m] of this.model.namedModules()) {
      if (path === '' || path.includes('.modules_to_save.') || path.endsWith('.original_module')) continue;
      if (!targets.some((t) => path === t || path.endsWith(`.${t}`))) continue;
      const wrapper = isModulesToSave(m) ? m : new ModulesToSaveWrapper(m);
      if (wrapper !== m) this.model.setSubmodule(path, wrapper);
      wrapper.addAdapter(name);
      found++;
    }
    if (found === 0) throw new Error(`modulesToSave: none of ${JSON.stringify(targets)} is a module of the base model`);
  }
}

export function trainableParametersLine(c: { trainable: number; all: number }): string {
  const fmt = (n: number) => n.toLocaleString('en-US');
  return `trainable params: ${fmt(c.trainable)} || all params: ${fmt(c.all)} || trainable%: ${(c.all === 0 ? 0 : (100 * c.trainable) / c.all).toFixed(4)}`;
}

/** PeftMixedModel's constructor; mixed_model.ts (which imports this file) installs it here. */
type MixedFactory = <M extends Module>(model: M, config: PeftConfig, adapterName: string) => PeftMixedModel<M>;
let mixedFactory: MixedFactory | null = null;
export function installMixedModel(f: MixedFactory): void {
  mixedFactory = f;
}

export interface GetPeftModelOptions {
  adapterName?: string;
  /** HF's mixed=True: a PeftMixedModel, which holds adapters of different types (LoRA, LoHa, LoKr, OFT) together. */
  mixed?: boolean;
}

/** Wraps a model with a new adapter: HF's get_peft_model (`{ mixed: true }`: a PeftMixedModel). */
export function getPeftModel<M extends Module>(model: M, config: PeftConfig, opts: GetPeftModelOptions & { mixed: true }): PeftMixedModel<M>;
export function getPeftModel<M extends Module>(model: M, config: PeftConfig, adapterNameOrOpts?: string | GetPeftModelOptions): PeftModel<M>;
export function getPeftModel<M extends Module>(model: M, config: PeftConfig, adapterNameOrOpts: string | GetPeftModelOptions = 'default'): PeftModel<M> {
  const opts = typeof adapterNameOrOpts === 'string' ? { adapterName: adapterNameOrOpts } : adapterNameOrOpts ?? {};
  if (typeof opts !== 'object') throw new TypeError(`getPeftModel: the third argument must be an adapter name or options, got ${String(opts)}`);
  const name = opts.adapterName ?? 'default';
  if (!opts.mixed) return new PeftModel(model, config, name);
  if (!mixedFactory) throw new Error('getPeftModel: PeftMixedModel is not loaded (import peftjs, not a single file)');
  return mixedFactory(model, config, name);
}
