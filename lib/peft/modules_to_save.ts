/**
 * modulesToSave: a trainable copy of a whole module (typically the classification head) per adapter, the
 * original kept frozen beside it, as HF's ModulesToSaveWrapper (`classifier.modules_to_save.default.weight`).
 */
import { Conv1D } from '../nn/layers/conv1d';
import { Embedding } from '../nn/layers/embedding';
import { Linear } from '../nn/layers/linear';
import { LayerNorm, RMSNorm } from '../nn/layers/norm';
import { copyInto, Module } from '../nn/module';
import type { Tensor } from '../tensor/tensor';

/** A fresh module of the same kind with the same values (trainable). */
export function cloneModule(m: Module): Module {
  let copy: Module;
  if (m instanceof Linear) copy = new Linear(m.inFeatures, m.outFeatures, { bias: m.bias !== null });
  else if (m instanceof Conv1D) copy = new Conv1D(m.inFeatures, m.outFeatures);
  else if (m instanceof Embedding) copy = new Embedding(m.numEmbeddings, m.embeddingDim);
  else if (m instanceof LayerNorm) copy = new LayerNorm(m.size, m.eps);
  else if (m instanceof RMSNorm) copy = new RMSNorm(m.size, m.eps);
  else throw new Error(`modulesToSave: cannot copy a ${m.constructor.name} (Linear, Conv1D, Embedding, LayerNorm and RMSNorm can be saved whole)`);
  const src = m.stateDict();
  for (const [k, t] of copy.stateDict()) copyInto(t, src.get(k)!);
  copy.unfreeze();
  return copy;
}

class AdapterCopies extends Module {}

export class ModulesToSaveWrapper extends Module {
  readonly isModulesToSave = true;
  original_module: Module;
  modules_to_save: Module;
  activeAdapter: string | null = null;
  disabled = false;

  constructor(original: Module) {
    super();
    this.original_module = this.registerModule('original_module', original);
    this.modules_to_save = this.registerModule('modules_to_save', new AdapterCopies());
  }

  addAdapter(name: string): void {
    this.modules_to_save.registerModule(name, cloneModule(this.original_module));
    this.activeAdapter = name;
  }

  deleteAdapter(name: string): void {
    this.modules_to_save.registerModule(name, null);
    if (this.activeAdapter === name) this.activeAdapter = null;
  }

  hasAdapter(name: string): boolean {
    return this.modules_to_save.namedChildren().some(([n]) => n === name);
  }

  /** The module that runs: the active adapter's copy, or the original. */
  get active(): Module {
    if (this.disabled || this.activeAdapter === null) return this.original_module;
    return this.modules_to_save.getSubmodule(this.activeAdapter);
  }

  forward(...args: unknown[]): unknown {
    return (this.active as unknown as { forward(...a: unknown[]): unknown }).forward(...args);
  }

  /** The copy's tensors for an adapter, by their local names (weight, bias). */
  adapterTensors(name: string): Map<string, Tensor> {
    return this.modules_to_save.getSubmodule(name).stateDict();
  }
}

export function isModulesToSave(m: Module): m is ModulesToSaveWrapper {
  return (m as unknown as { isModulesToSave?: boolean }).isModulesToSave === true;
}
