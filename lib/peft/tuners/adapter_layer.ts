/**
 * What every adapter layer keeps the same way: the adapters it holds (each with its method's spec), the
 * ones that run, the ones merged into the base weights, and the rules for deleting one. A layer adds its
 * tensors, its forward and its merge; deleteAdapter frees the layer's own tensors through disposeAdapter.
 * Also the two containers that name an adapter's tensors as HF does (`lora_A.default`, `ia3_l.default`).
 */
import { Module } from '../../nn/module';
import { noGrad } from '../../tensor/autograd';
import { add, sub } from '../../tensor/ops';
import type { Tensor } from '../../tensor/tensor';
import { foldDelta } from './fold_delta';
import { type AdapterLayer, isAdapterLayer } from '../tuner';

/** Children named by adapter (HF's ModuleDict). */
export class AdapterDict<M extends Module> extends Module {
  get(name: string): M {
    return this.getSubmodule(name) as M;
  }
  has(name: string): boolean {
    return this.namedChildren().some(([n]) => n === name);
  }
  names(): string[] {
    return this.namedChildren().map(([n]) => n);
  }
}

/** Parameters named by adapter (HF's ParameterDict): `ia3_l.default`. */
export class ParameterDict extends Module {
  get(name: string): Tensor {
    const t = this.localParameters().find(([n]) => n === name);
    if (!t) throw new Error(`ParameterDict: no parameter '${name}'`);
    return t[1];
  }
  set(name: string, t: Tensor | null): void {
    this.registerParameter(name, t);
  }
}

/**
 * HF's BaseTunerLayer.get_base_layer(): the module under every adapter layer. Only a mixed model
 * (PeftMixedModel) nests adapter layers of different methods, each wrapping the next as its base_layer;
 * merging and the weight-reading kernels use the innermost module's weight.
 */
export function getBaseLayer(m: Module): Module {
  while (isAdapterLayer(m)) m = m.base_layer;
  return m;
}

export abstract class AdapterLayerBase<Spec> extends Module implements AdapterLayer {
  readonly isAdapterLayer = true;
  abstract readonly base_layer: Module;
  /** Each adapter's settings, in the order the adapters were added. */
  readonly specs = new Map<string, Spec>();
  protected active: string[] = [];
  protected merged: string[] = [];
  disabled = false;

  adapterNames(): string[] {
    return [...this.specs.keys()];
  }

  get activeAdapters(): readonly string[] {
    return this.active;
  }

  /** Names this layer does not hold are ignored (a model's adapters need not reach every layer). */
  setActiveAdapters(names: string[]): void {
    this.active = names.filter((n) => this.specs.has(n));
  }

  get mergedAdapters(): readonly string[] {
    return this.merged;
  }

  deleteAdapter(name: string): void {
    if (!this.specs.has(name)) return;
    if (this.merged.includes(name)) throw new Error(`deleteAdapter: adapter '${name}' is merged into the base weights; unmerge() first`);
    this.disposeAdapter(name);
    this.specs.delete(name);
    this.active = this.active.filter((n) => n !== name);
  }

  /** Frees and unregisters the tensors and children of adapter `name` (it exists). */
  protected abstract disposeAdapter(name: string): void;
  abstract merge(names: string[]): void;
  abstract unmerge(): void;

  /**
   * merge() of a layer whose adapters fold into `weight` as a delta in its layout: each named adapter of this
   * layer not merged yet, in order.
   */
  protected mergeDeltas(weight: Tensor, names: string[], delta: (name: string) => Tensor): void {
    for (const n of names) {
      if (this.merged.includes(n) || !this.specs.has(n)) continue;
      foldDelta(weight, noGrad(() => delta(n)), add);
      this.merged.push(n);
    }
  }

  /** unmerge() of such a layer: the merged adapters out again, the last merged first. */
  protected unmergeDeltas(weight: Tensor, delta: (name: string) => Tensor): void {
    while (this.merged.length > 0) foldDelta(weight, noGrad(() => delta(this.merged.pop()!)), sub);
  }
}
