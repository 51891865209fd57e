/**
 * LoraLinear: a Linear (or GPT-2 Conv1D) with low-rank adapters, HF's lora.Linear: `base_layer`,
 * `lora_A.<name>` [r, in] and `lora_B.<name>` [out, r] per adapter, y = base(x) + s B A drop(x), run by the
 * fused LoRA kernels. Merging folds s B A into the base weight; unmerging takes it out again.
 */
import { Conv1D } from '../../../nn/layers/conv1d';
import { Linear } from '../../../nn/layers/linear';
import { Module, parameter } from '../../../nn/module';
import { noGrad } from '../../../tensor/autograd';
import { randn, zeros } from '../../../tensor/creation';
import { seedCounter } from '../../../tensor/seed_counters';
import { loraAdd, loraLinearAuto } from '../../../tensor/lora_op';
import { add, matmul, sub } from '../../../tensor/ops';
import type { Tensor } from '../../../tensor/tensor';
import { copyInto } from '../../../nn/module';
import type { AdapterLayer } from '../../tuner';

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

export interface LoraAdapterSpec {
  r: number;
  alpha: number;
  dropout: number;
  scale: number;
  init: boolean | 'gaussian';
}

/** Each training forward with dropout takes a fresh seed; registered so checkpoints can resume it. */
const dropoutSeeds = seedCounter('lora.dropout', 1);

export class LoraLinear extends Module implements AdapterLayer {
  readonly isAdapterLayer = true;
  readonly base_layer: Linear | Conv1D;
  readonly lora_A: AdapterDict<Linear>;
  readonly lora_B: AdapterDict<Linear>;
  readonly specs = new Map<string, LoraAdapterSpec>();
  private active: string[] = [];
  private merged: string[] = [];
  disabled = false;

  constructor(base: Linear | Conv1D) {
    super();
    this.base_layer = this.registerModule('base_layer', base);
    this.lora_A = this.registerModule('lora_A', new AdapterDict<Linear>());
    this.lora_B = this.registerModule('lora_B', new AdapterDict<Linear>());
  }

  get inFeatures(): number {
    return this.base_layer.inFeatures;
  }
  get outFeatures(): number {
    return this.base_layer.outFeatures;
  }

  addAdapter(name: string, spec: LoraAdapterSpec): void {
    const a = new Linear(this.inFeatures, spec.r, { bias: false });
    const b = new Linear(spec.r, this.outFeatures, { bias: false });
    noGrad(() => {
      if (spec.init === 'gaussian') replaceWeight(a, randn([spec.r, this.inFeatures], { std: 1 / spec.r }));
      if (spec.init !== false) replaceWeight(b, zeros([this.outFeatures, spec.r]));
    });
    this.lora_A.registerModule(name, a);
    this.lora_B.registerModule(name, b);
    this.specs.set(name, spec);
  }

  adapterNames(): string[] {
    return [...this.specs.keys()];
  }

  setActiveAdapters(names: string[]): void {
    this.active = names.filter((n) => this.specs.has(n));
  }

  deleteAdapter(name: string): void {
    if (this.merged.includes(name)) throw new Error(`deleteAdapter: adapter '${name}' is merged into the base weights; unmerge() first`);
    this.lora_A.get(name).dispose();
    this.lora_B.get(name).dispose();
    this.lora_A.registerModule(name, null);
    this.lora_B.registerModule(name, null);
    this.specs.delete(name);
    this.active = this.active.filter((n) => n !== name);
  }

  get mergedAdapters(): readonly string[] {
    return this.merged;
  }

  /** The base weight as [out, in] (a transposed view for Conv1D's [in, out] storage). */
  private weightOutIn(): Tensor {
    return this.base_layer instanceof Conv1D ? this.base_layer.weight.T : this.base_layer.weight;
  }

  forward(x: Tensor): Tensor {
    const running = this.disabled ? [] : this.active.filter((n) => !this.merged.includes(n));
    if (this.disabled && this.merged.length > 0) throw new Error('LoraLinear: adapters are merged into the weights; unmerge() before disabling them');
    if (running.length === 0) return this.base_layer.forward(x);
    const opts = (n: string) => {
      const s = this.specs.get(n)!;
      return { scale: s.scale, dropout: this.training ? s.dropout : 0, seed: this.training && s.dropout > 0 ? dropoutSeeds.next() : 0 };
    };
    const [first, ...rest] = running;
    let y = loraLinearAuto(x, this.weightOutIn(), this.base_layer.bias, this.lora_A.get(first).weight, this.lora_B.get(first).weight, opts(first));
    for (const n of rest) y = loraAdd(y, x, this.lora_A.get(n).weight, this.lora_B.get(n).weight, opts(n));
    return y;
  }

  /** s B A as the base weight's layout ([out, in], or [in, out] for Conv1D). */
  deltaWeight(name: string): Tensor {
    const s = this.specs.get(name)!;
    return noGrad(() => {
      const ab = matmul(this.lora_B.get(name).weight, this.lora_A.get(name).weight, { alpha: s.scale });
      if (!(this.base_layer instanceof Conv1D)) return ab;
      const t = ab.T.contiguous();
      ab.dispose();
      return t;
    });
  }

  merge(names: string[]): void {
    for (const n of names) {
      if (this.merged.includes(n) || !this.specs.has(n)) continue;
      this.applyDelta(n, add);
      this.merged.push(n);
    }
  }

  unmerge(): void {
    while (this.merged.length > 0) this.applyDelta(this.merged.pop()!, sub);
  }

  private applyDelta(name: string, op: (a: Tensor, b: Tensor) => Tensor): void {
    noGrad(() => {
      const w = this.base_layer.weight;
      const delta = this.deltaWeight(name);
      const next = op(w, delta);
      copyInto(w, next);
      next.dispose();
      delta.dispose();
    });
  }
}

function replaceWeight(m: Linear, t: Tensor): void {
  m.weight.dispose();
  m.setWeight(parameter(t));
}

