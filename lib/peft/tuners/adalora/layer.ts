/**
 * SVDLinear: a Linear (or GPT-2 Conv1D) with AdaLoRA adapters, HF's adalora.SVDLinear (src/peft/tuners/
 * adalora/layer.py, peft 5d602fd): `base_layer` and per adapter the ParameterDict entries `lora_A` [r, in]
 * (right singular vectors), `lora_E` [r, 1] (singular values), `lora_B` [out, r] (left singular vectors)
 * and `ranknum` [1] (a frozen parameter holding the initial rank, the denominator of the scale):
 *   y = base(x) + (drop(x) (A * E)^T B^T) * scaling / (ranknum + 1e-5),   scaling = lora_alpha (or r if <= 0).
 * The fused LoRA kernels run it with A and B diag(E): (A * E)^T B^T = A^T (B diag(E))^T, so E's gradient
 * comes through the product's. Initialisation as reset_lora_parameters: E = 0, A and B ~ N(0, 0.02^2) (the
 * identity); with init_lora_weights false all three ~ N(0, 1) as created. Merging folds
 * B (A * E) * scaling / (ranknum + 1e-5) into the base weight (transposed for Conv1D's [in, out] storage).
 * A layer of rank 0 (all its triplets pruned, which HF allows) adds nothing.
 * On a quantized base (QuantizedLinear: int8 / nf4 / bf16, HF's SVDLinear8bitLt / SVDLinear4bit) the base runs
 * its own GEMM and the adapter's term is added to it; merging needs a float32 weight, as HF's bnb AdaLoRA
 * layers have no merge either.
 */
import { Conv1D } from '../../../nn/layers/conv1d';
import type { Linear } from '../../../nn/layers/linear';
import { needsFloatBase, QuantizedLinear } from '../../../quant/quantized_linear';
import { parameter } from '../../../nn/module';
import { loraAdd, loraLinear } from '../../../ops/lora/op';
import { noGrad } from '../../../tensor/autograd';
import { fromArray, full, randn, zeros } from '../../../tensor/creation';
import { matmul, mul } from '../../../tensor/ops';
import { seedCounter } from '../../../tensor/seed_counters';
import type { Tensor } from '../../../tensor/tensor';
import { AdapterLayerBase, ParameterDict } from '../adapter_layer';

export interface AdaLoraSpec {
  /** The current rank (init_r, or what a rank pattern left). */
  r: number;
  alpha: number;
  dropout: number;
  /** HF's scaling: lora_alpha when > 0, else r (divided by ranknum + 1e-5 in the forward). */
  scaling: number;
}

/** Each training forward with dropout takes a fresh seed; registered so checkpoints can resume it. */
const dropoutSeeds = seedCounter('adalora.dropout', 1);

export class SVDLinear extends AdapterLayerBase<AdaLoraSpec> {
  readonly base_layer: Linear | Conv1D | QuantizedLinear;
  readonly lora_A: ParameterDict;
  readonly lora_B: ParameterDict;
  readonly lora_E: ParameterDict;
  readonly ranknum: ParameterDict;

  constructor(base: Linear | Conv1D | QuantizedLinear) {
    super();
    this.base_layer = this.registerModule('base_layer', base);
    // HF's order of named_parameters: LoraLayer's lora_A and lora_B, then AdaLoraLayer's lora_E and ranknum.
    this.lora_A = this.registerModule('lora_A', new ParameterDict());
    this.lora_B = this.registerModule('lora_B', new ParameterDict());
    this.lora_E = this.registerModule('lora_E', new ParameterDict());
    this.ranknum = this.registerModule('ranknum', new ParameterDict());
  }

  get inFeatures(): number {
    return this.base_layer.inFeatures;
  }
  get outFeatures(): number {
    return this.base_layer.outFeatures;
  }
  /** HF's fan_in_fan_out: the base weight is stored [in, out] (GPT-2's Conv1D). */
  get fanInFanOut(): boolean {
    return this.base_layer instanceof Conv1D;
  }

  /** HF's update_layer followed by reset_lora_parameters when init is truthy. */
  addAdapter(name: string, spec: AdaLoraSpec, init: boolean, trainable = true): void {
    if (this.specs.has(name)) throw new Error(`SVDLinear: adapter '${name}' already exists on this layer`);
    const { r } = spec;
    const [a, e, b] = noGrad(() => init
      ? [randn([r, this.inFeatures], { std: 0.02 }), zeros([r, 1]), randn([this.outFeatures, r], { std: 0.02 })]
      : [randn([r, this.inFeatures]), randn([r, 1]), randn([this.outFeatures, r])]);
    this.setFactors(name, a, e, b, trainable);
    this.ranknum.set(name, parameter(noGrad(() => full([1], r)), false));
    this.specs.set(name, spec);
  }

  private setFactors(name: string, a: Tensor, e: Tensor, b: Tensor, trainable: boolean): void {
    this.lora_A.set(name, parameter(a, trainable));
    this.lora_E.set(name, parameter(e, trainable));
    this.lora_B.set(name, parameter(b, trainable));
  }

  /**
   * HF's resize_modules_by_rank_pattern for this layer: keeps the triplets `keep` marks (rows of A and E,
   * columns of B); ranknum keeps its value, so the scale stays what it was (HF: "The scaling is exactly as
   * the previous"), except at rank 0 where HF's fresh update_layer leaves ranknum = 0.
   */
  resize(name: string, keep: readonly boolean[], trainable: boolean): void {
    const spec = this.specs.get(name)!;
    const r = keep.filter(Boolean).length;
    const inF = this.inFeatures, out = this.outFeatures;
    const a = this.lora_A.get(name).toFloat32Array(), e = this.lora_E.get(name).toFloat32Array(), b = this.lora_B.get(name).toFloat32Array();
    const rows = keep.flatMap((k, i) => (k ? [i] : []));
    const na = new Float32Array(r * inF), ne = new Float32Array(r), nb = new Float32Array(out * r);
    rows.forEach((src, dst) => {
      na.set(a.subarray(src * inF, (src + 1) * inF), dst * inF);
      ne[dst] = e[src];
      for (let o = 0; o < out; o++) nb[o * r + dst] = b[o * spec.r + src];
    });
    const ranknum = r > 0 ? this.ranknum.get(name).item() : 0;
    this.disposeAdapter(name);
    this.setFactors(name, fromArray(na, [r, inF]), fromArray(ne, [r, 1]), fromArray(nb, [out, r]), trainable);
    this.ranknum.set(name, parameter(fromArray([ranknum], [1]), false));
    this.specs.set(name, { ...spec, r });
  }

  protected disposeAdapter(name: string): void {
    for (const d of [this.lora_A, this.lora_B, this.lora_E, this.ranknum]) {
      const held = d.localParameters().find(([n]) => n === name);
      if (!held) continue;
      held[1].dispose();
      d.set(name, null);
    }
  }

  /** The float32 base weight as [out, in] (a transposed view for Conv1D's [in, out] storage). */
  private weightOutIn(what: string): Tensor {
    const w = this.floatWeight(what);
    return this.fanInFanOut ? w.T : w;
  }

  /** scaling / (ranknum + 1e-5), ranknum read from its parameter (loading may have written it). */
  private scale(name: string): number {
    const ranknum = Math.fround(this.ranknum.get(name).item() + 1e-5);
    return this.specs.get(name)!.scaling / ranknum;
  }

  forward(x: Tensor): Tensor {
    if (this.disabled && this.merged.length > 0) throw new Error('SVDLinear: adapters are merged into the weights; unmerge() before disabling them');
    const running = this.disabled ? [] : this.active.filter((n) => !this.merged.includes(n) && this.specs.get(n)!.r > 0);
    let y: Tensor | null = null;
    for (const n of running) {
      const s = this.specs.get(n)!;
      const a = this.lora_A.get(n);
      // B diag(E): E [r, 1] as a row of r scales B's columns.
      const be = mul(this.lora_B.get(n), this.lora_E.get(n).reshape([s.r]));
      const opts = { scale: this.scale(n), dropout: this.training ? s.dropout : 0, seed: this.training && s.dropout > 0 ? dropoutSeeds.next() : 0 };
      // A quantized base runs its own GEMM (HF's self.base_layer(x)); the adapter's term is added to it.
      if (y === null && this.base_layer instanceof QuantizedLinear) y = this.base_layer.forward(x);
      y = y === null ? loraLinear(x, this.weightOutIn('the forward'), this.base_layer.bias, a, be, opts) : loraAdd(y, x, a, be, opts);
    }
    return y ?? this.base_layer.forward(x);
  }

  /** B (A * E) * scaling / (ranknum + 1e-5) in the base weight's layout ([out, in], or [in, out] for Conv1D). */
  deltaWeight(name: string): Tensor {
    return noGrad(() => {
      const s = this.specs.get(name)!;
      if (s.r === 0) return zeros(this.fanInFanOut ? [this.inFeatures, this.outFeatures] : [this.outFeatures, this.inFeatures]);
      const be = mul(this.lora_B.get(name), this.lora_E.get(name).reshape([s.r]));
      const ab = matmul(be, this.lora_A.get(name), { alpha: this.scale(name) });
      be.dispose();
      if (!this.fanInFanOut) return ab;
      const t = ab.T.contiguous();
      ab.dispose();
      return t;
    });
  }

  merge(names: string[]): void {
    this.mergeDeltas(this.floatWeight('merging'), names, (n) => this.deltaWeight(n));
  }

  unmerge(): void {
    this.unmergeDeltas(this.floatWeight('unmerging'), (n) => this.deltaWeight(n));
  }

  /** The float32 base weight in its stored layout; a quantized base is refused by name. */
  private floatWeight(what: string): Tensor {
    const base = this.base_layer;
    if (base instanceof QuantizedLinear) throw needsFloatBase('SVDLinear', what, base);
    return base.weight;
  }
}
