/**
 * PeftMixedModel: adapters of different types (LoRA, LoHa, LoKr, OFT) on one model, several active at once,
 * each adding its own term: HF peft's PeftMixedModel (src/peft/mixed_model.py) over MixedModel
 * (src/peft/tuners/mixed/model.py), peft 5d602fd. Made by getPeftModel(model, config, { mixed: true }) or
 * PeftMixedModel.fromPretrained; loadAdapter adds saved adapters of any compatible type.
 *
 * Adapters nest as HF nests them (tuners/mixed/nesting.ts): a module targeted by two types becomes one
 * type's layer whose base_layer is the other's. As HF:
 * - addAdapter / loadAdapter do not activate the new adapter; setAdapter([...]) activates several, makes
 *   them trainable (unless inferenceMode) and freezes every other adapter (BaseTunerLayer.set_adapter);
 * - savePretrained, addWeightedAdapter and mixed batches (adapterNames) are refused.
 * One difference: HF's load_adapter ends with set_adapter(active_adapters), which unfreezes the active
 * adapters even when loaded with is_trainable=False ("not quite clear why", says its comment); here a
 * loaded adapter stays frozen unless isTrainable, and setAdapter is what makes adapters train.
 *
 * It is a PeftModel underneath (the tuners, loading and parameter bookkeeping are shared), where HF's
 * PeftMixedModel is a separate class; what differs is overridden here.
 */
import type { HubOptions } from '../io/hub';
import { resolveModelPath } from '../io/hub';
import type { Module } from '../nn/module';
import type { PeftConfig } from './config';
import { isModulesToSave } from './modules_to_save';
import { installMixedModel, PeftModel } from './peft_model';
import { ADAPTER_CONFIG, loadAdapterWeights, readAdapterConfig } from './save_load';
import { isAdapterLayer, tunerFor } from './tuner';
import { getBaseLayer } from './tuners/adapter_layer';
import { checkConfigCompatible, COMPATIBLE_TUNER_TYPES } from './tuners/mixed/compatible';
import { injectNested, layerStack, outermostLayers } from './tuners/mixed/nesting';

export { COMPATIBLE_TUNER_TYPES };
export type { GetPeftModelOptions } from './peft_model';

/** Python's repr of a sorted list of names, as HF's messages print them: ['a', 'b']. */
const pyList = (names: Iterable<string>) => `[${[...names].sort().map((n) => `'${n}'`).join(', ')}]`;

export class PeftMixedModel<M extends Module = Module> extends PeftModel<M> {
  // No instance fields: PeftModel's constructor calls addAdapter (overridden below) before they would be set.

  constructor(model: M, config: PeftConfig, adapterName = 'default') {
    checkConfigCompatible(config);  // HF's first step, before the model is touched
    super(model, config, adapterName);
  }

  /**
   * Adds an adapter of any compatible type (HF's add_adapter): nested over other types' layers, not
   * activated (the first one, made by the constructor, is), frozen unless it is active and not inferenceMode.
   */
  override addAdapter(name: string, config: PeftConfig): void {
    if (typeof name !== 'string' || name === '' || name.includes('.')) throw new Error(`addAdapter: an adapter name must be a non-empty string without '.', got '${String(name)}'`);
    if (this.peftConfig.has(name)) throw new Error(`Adapter with name '${name}' already exists.`);
    checkConfigCompatible(config);
    config.validate();
    injectNested(this, config, name);
    this.peftConfig.set(name, config);
    this.wrapModulesToSave(config, name);
    const tuner = tunerFor(config.peftType, 'addAdapter');
    for (const p of tuner.trainedBaseParameters?.(this, config) ?? []) this.model.getParameter(p).requiresGrad = !config.inferenceMode;
    // BaseTuner.__init__ makes the first adapter the active one; later ones wait for set_adapter.
    if (this.peftConfig.size === 1) this.active = [name];
    this.applyActive();
    this.setAdapterTrainable(name, !config.inferenceMode && this.active.includes(name));
  }

  /**
   * Makes these adapters the active ones, each layer running those it holds (HF's set_adapter). As HF: a
   * merged model is unmerged first (with a warning); the active adapters train unless inferenceMode and
   * every other adapter is frozen. The forward order is the nesting order, not this list's.
   */
  override setAdapter(names: string | string[], opts: { inferenceMode?: boolean } = {}): void {
    const list = typeof names === 'string' ? [names] : [...names];
    const mismatched = new Set(list.filter((n) => !this.peftConfig.has(n)));
    if (mismatched.size > 0) throw new Error(`setAdapter: Adapter(s) ${pyList(mismatched)} not found, available adapters: ${pyList(this.peftConfig.keys())}`);
    if (list.length === 0) throw new Error('setAdapter: name at least one adapter');
    if (this.model.namedModules().some(([, m]) => isAdapterLayer(m) && m.mergedAdapters.length > 0)) {
      console.warn('peft: Adapter cannot be set when the model is merged. Unmerging the model first.');
      this.unmerge();
    }
    this.active = list;
    this.applyActive();
    for (const n of this.peftConfig.keys()) this.setAdapterTrainable(n, list.includes(n) && !opts.inferenceMode);
  }

  /** Each adapter layer (nested ones too) and modules_to_save wrapper runs the active adapters it holds. */
  private applyActive(): void {
    for (const [, m] of this.model.namedModules()) {
      if (isAdapterLayer(m)) m.setActiveAdapters(this.active.filter((n) => m.adapterNames().includes(n)));
      else if (isModulesToSave(m)) m.activeAdapter = this.active.find((n) => m.hasAdapter(n)) ?? null;
    }
  }

  /** Deletes adapters (HF's delete_adapter): the remaining active ones stay active; none may be merged. */
  override deleteAdapter(names: string | string[]): void {
    const list = typeof names === 'string' ? [names] : [...names];
    const mismatched = new Set(list.filter((n) => !this.peftConfig.has(n)));
    if (mismatched.size > 0) throw new Error(`deleteAdapter: Adapter(s) ${pyList(mismatched)} not found, available adapters: ${pyList(this.peftConfig.keys())}`);
    const layers = this.model.namedModules().map(([, m]) => m);
    const merged = list.filter((n) => layers.some((m) => isAdapterLayer(m) && m.mergedAdapters.includes(n)));
    if (merged.length > 0) throw new Error(`deleteAdapter: Cannot delete adapter(s) ${pyList(merged)} because they are merged; unmerge() first`);
    for (const n of list) {
      for (const m of layers) {
        if (isAdapterLayer(m) && m.adapterNames().includes(n)) m.deleteAdapter(n);
        if (isModulesToSave(m) && m.hasAdapter(n)) m.deleteAdapter(n);
      }
      this.peftConfig.delete(n);
    }
    this.active = this.active.filter((n) => !list.includes(n));
    this.applyActive();
  }

  /**
   * Folds the active (or named) adapters into the base weights. Each module's stack merges from the
   * innermost layer out: a layer's forward feeds its input to the layers under it, so for OFT's input
   * rotation (R) over a LoRA, (W + BA) R is right and W R + BA is not. (HF's merge_recursively merges the
   * layers under the top one first, top to bottom, then the top one: the same for additive stacks.)
   */
  override merge(names?: string[]): void {
    const list = names ?? [...this.active];
    for (const [, top] of outermostLayers(this.model))
      for (const layer of layerStack(top).reverse()) layer.merge(list.filter((n) => layer.adapterNames().includes(n)));
  }

  /** The base model with its original modules back (every stack of nested layers replaced by its base), adapters dropped. */
  override unload(): M {
    const model = this.model;
    for (const [path, top] of outermostLayers(model)) model.setSubmodule(path, getBaseLayer(top));
    for (const [path, m] of model.namedModules()) if (path !== '' && isModulesToSave(m)) model.setSubmodule(path, m.active);
    return model;
  }

  /** HF's PeftMixedModel.forward: the model's own forward (no mixed batches: HF's MixedModel has no adapter_names hook). */
  override forward(inputs: unknown): unknown {
    const names = (inputs as { adapterNames?: unknown } | null)?.adapterNames;
    if (names !== undefined && names !== null)
      throw new Error('PeftMixedModel: forward with adapterNames (a mixed batch) is not supported; use a PeftModel of LoRA or IA3 adapters');
    return (this.model as unknown as { forward(i: unknown): unknown }).forward(inputs);
  }

  /** No rank allocation: AdaLoRA is not mixed here (see tuners/mixed/compatible.ts). */
  override rankAllocation(): null {
    return null;
  }

  /** HF: "Saving is not supported for PeftMixedModel (yet)." */
  override savePretrained(_dir: string, _opts: { selectedAdapters?: string[] } = {}): void {
    throw new Error('savePretrained: Saving is not supported for PeftMixedModel (yet).');
  }

  /** HF's MixedModel.add_weighted_adapter refuses. */
  override addWeightedAdapter(..._args: Parameters<PeftModel['addWeightedAdapter']>): void {
    throw new Error('addWeightedAdapter: Weighted adapters are not supported for PeftMixedModel (yet).');
  }

  /**
   * Loads an adapter folder (or Hub id) of a compatible type onto a base model as a PeftMixedModel, its
   * adapter the active one, frozen unless isTrainable (HF's PeftMixedModel.from_pretrained); more adapters
   * come with loadAdapter. The third argument is the adapter's name (default 'default') or the options.
   */
  static override fromPretrained<M extends Module>(model: M, idOrDir: string,
    adapterNameOrOpts: string | ({ adapterName?: string; isTrainable?: boolean } & HubOptions) = 'default',
    opts: { isTrainable?: boolean } & HubOptions = {}): PeftMixedModel<M> {
    const o = typeof adapterNameOrOpts === 'string' ? { ...opts, adapterName: adapterNameOrOpts } : { ...adapterNameOrOpts };
    const dir = resolveModelPath(idOrDir, { ...o, files: 'adapter' });
    const config = readAdapterConfig(dir);
    if (!COMPATIBLE_TUNER_TYPES.includes(config.peftType))
      throw new Error(`${dir}/${ADAPTER_CONFIG}: Adapter of type ${config.peftType} is not supported for mixed models.`);
    config.inferenceMode = !(o.isTrainable ?? false);
    const name = o.adapterName ?? 'default';
    let peft: PeftMixedModel<M>;
    try {
      peft = new PeftMixedModel(model, config, name);
    } catch (e) {
      // as PeftModel.fromPretrained: the config file is what has to change (targets the model lacks, ...)
      if (e instanceof Error) e.message = `${dir}/${ADAPTER_CONFIG}: ${e.message}`;
      throw e;
    }
    loadAdapterWeights(peft, name, dir);
    return peft;
  }
}

installMixedModel((model, config, name) => new PeftMixedModel(model, config, name));
