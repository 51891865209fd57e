/**
 * Adapter layers of different types on one module, nested as HF peft's MixedModel nests them
 * (src/peft/tuners/mixed/model.py _create_and_replace, peft 5d602fd): each type's own _create_and_replace
 * runs; a targeted module that is already an adapter layer of that type gets the new adapter, and anything
 * else (a Linear, or another type's layer) is wrapped by a new layer of this type. So q_proj can become
 * LoKr(base_layer = LoHa(base_layer = LoRA(base_layer = Linear))), each layer's forward running its
 * base_layer and adding its own active adapters, and merging into the innermost Linear's weight.
 *
 * How: the type's own tuner injects (its targets, patterns, checks and initialisation, unchanged) while
 * every outermost adapter layer of another type is swapped for the base module under it; afterwards each
 * swapped stack goes back in place, under the new layer wherever the tuner wrapped that base module.
 */
import type { Module } from '../../../nn/module';
import type { PeftConfig } from '../../config';
import type { PeftModel } from '../../peft_model';
import { type AdapterLayer, isAdapterLayer, tunerFor } from '../../tuner';
import { getBaseLayer } from '../adapter_layer';
import { isLayerOfType } from './compatible';

/** The adapter layers that sit at a module's place (not nested inside another one), with their paths. */
export function outermostLayers(model: Module): [string, AdapterLayer][] {
  const out: [string, AdapterLayer][] = [];
  for (const [path, m] of model.namedModules()) {
    if (!isAdapterLayer(m) || out.some(([p]) => path.startsWith(`${p}.`))) continue;
    out.push([path, m]);
  }
  return out;
}

/** A stack of nested adapter layers, outermost first (HF's merge_recursively walks the same `path`). */
export function layerStack(top: AdapterLayer): AdapterLayer[] {
  const stack: AdapterLayer[] = [];
  for (let m: Module = top; isAdapterLayer(m); m = m.base_layer) stack.push(m);
  return stack;
}

/** Injects adapter `name` of config's type into peft.model, nesting over other types' layers. */
export function injectNested(peft: PeftModel, config: PeftConfig, name: string): void {
  const model = peft.model;
  const own = isLayerOfType[config.peftType];
  const hidden = outermostLayers(model).filter(([, m]) => !own(m));
  const before = new Set(model.namedModules().map(([, m]) => m).filter(isAdapterLayer));
  for (const [path, stack] of hidden) model.setSubmodule(path, getBaseLayer(stack));
  let failure: unknown = null;
  try {
    tunerFor(config.peftType, 'addAdapter').inject(peft, config, name);
  } catch (e) {
    failure = e;
  }
  for (const [path, stack] of hidden) {
    const now = model.getSubmodule(path);
    const base = getBaseLayer(stack);
    if (now === base) model.setSubmodule(path, stack);
    else if (isAdapterLayer(now) && now.base_layer === base) now.setSubmodule('base_layer', stack);
    else throw new Error(`PeftMixedModel: '${path}' is neither its base module nor a layer around it after adding '${name}'`);
  }
  if (failure !== null) {
    rollBack(model, name, before);
    throw failure;
  }
}

/** After a failed injection (HF rolls back its peft_config): the adapter leaves every layer, and new layers left empty go. */
function rollBack(model: Module, name: string, before: Set<Module>): void {
  for (const [, m] of model.namedModules()) if (isAdapterLayer(m) && m.adapterNames().includes(name)) m.deleteAdapter(name);
  for (const [path, m] of outermostLayers(model)) if (!before.has(m) && m.adapterNames().length === 0) model.setSubmodule(path, m.base_layer);
}
