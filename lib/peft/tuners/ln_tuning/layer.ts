/**
 * LNTuningLayer: HF's ln_tuning/layer.py. The targeted module (a LayerNorm or RMSNorm, typically) stays as
 * `base_layer`; each adapter is a trainable copy of it in `ln_tuning_layers.<name>` (saved as
 * `<module>.ln_tuning_layers.weight` / `.bias`), and the forward runs the active adapter's copy instead of
 * the base. One adapter at a time: HF refuses to run or merge several. Merging swaps the base and the
 * copy (HF swaps the modules; here their values are swapped, so the base module object stays), and
 * unmerging swaps them back; a disabled layer that is merged unmerges itself first, as HF's does.
 */
import { Conv1D } from '../../../nn/layers/conv1d';
import { Embedding } from '../../../nn/layers/embedding';
import { Linear } from '../../../nn/layers/linear';
import { LayerNorm, RMSNorm } from '../../../nn/layers/norm';
import { copyInto, type Module } from '../../../nn/module';
import { noGrad } from '../../../tensor/autograd';
import { fromArray } from '../../../tensor/creation';
import { cloneModule } from '../../modules_to_save';
import { AdapterDict, AdapterLayerBase } from '../adapter_layer';

type Callable = Module & { forward(...args: unknown[]): unknown };

/** A trainable copy of m: norms keep their own class (Gemma's 1 + weight norm), others as modulesToSave copies them. */
export function copyOfModule(m: Module): Module {
  if (m instanceof LayerNorm || m instanceof RMSNorm) {
    const Ctor = m.constructor as new (size: number, eps: number) => LayerNorm | RMSNorm;
    const copy = new Ctor(m.size, m.eps);
    const src = m.stateDict();
    for (const [k, t] of copy.stateDict()) copyInto(t, src.get(k)!);
    copy.unfreeze();
    return copy;
  }
  return cloneModule(m);
}

/** Whether LN tuning can copy a module (HF deep-copies anything; peftjs copies these). */
export function isCopyable(m: Module): boolean {
  return m instanceof LayerNorm || m instanceof RMSNorm || m instanceof Embedding || m instanceof Linear || m instanceof Conv1D;
}

export class LNTuningLayer extends AdapterLayerBase<Record<string, never>> {
  readonly base_layer: Module;
  readonly ln_tuning_layers: AdapterDict<Module>;

  constructor(base: Module) {
    super();
    this.base_layer = this.registerModule('base_layer', base);
    this.ln_tuning_layers = this.registerModule('ln_tuning_layers', new AdapterDict<Module>());
  }

  /** HF's update_layer: a deep copy of the base layer as it is now. */
  addAdapter(name: string): void {
    if (this.specs.has(name)) throw new Error(`LNTuningLayer: adapter '${name}' already exists on this layer`);
    this.ln_tuning_layers.registerModule(name, copyOfModule(this.base_layer));
    this.specs.set(name, {});
  }

  protected disposeAdapter(name: string): void {
    this.ln_tuning_layers.get(name).dispose();
    this.ln_tuning_layers.registerModule(name, null);
  }

  forward(...args: unknown[]): unknown {
    if (this.disabled) {
      if (this.merged.length > 0) this.unmerge();
      return (this.base_layer as Callable).forward(...args);
    }
    if (this.merged.length > 0 || this.active.length === 0) return (this.base_layer as Callable).forward(...args);
    if (this.active.length !== 1)
      throw new Error(`LNTuningLayer: trying to run forward with ${this.active.length} active adapters, but LN tuning does not allow inference with more than one adapter at a time`);
    return (this.ln_tuning_layers.get(this.active[0]) as Callable).forward(...args);
  }

  /** HF's merge: the adapter's copy becomes the base (values swapped); one adapter at most. */
  merge(names: string[]): void {
    const list = names.filter((n) => this.specs.has(n) && !this.merged.includes(n));
    if (list.length === 0) return;
    if (list.length > 1) throw new Error(`LNTuningLayer: trying to merge ${list.length} adapters, but LN tuning does not allow merging more than one adapter at a time`);
    if (this.merged.length > 0) this.unmerge();  // HF: "Already merged with ... Unmerging first."
    this.swap(list[0]);
    this.merged.push(list[0]);
  }

  unmerge(): void {
    const name = this.merged.pop();
    if (name !== undefined) this.swap(name);
  }

  private swap(name: string): void {
    const copy = this.ln_tuning_layers.get(name).stateDict();
    noGrad(() => {
      for (const [k, t] of this.base_layer.stateDict()) {
        const other = copy.get(k)!;
        const a = fromArray(t.toFloat32Array(), [...t.shape]);
        copyInto(t, other);
        copyInto(other, a);
        a.dispose();
      }
    });
  }
}
