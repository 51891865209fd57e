/**
 * LoraLinear: a Linear (or GPT-2 Conv1D) with low-rank adapters, HF's lora.Linear: `base_layer`,
 * `lora_A.<name>` [r, in] and `lora_B.<name>` [out, r] per adapter (and `lora_magnitude_vector.<name>`
 * [out] with DoRA), y = base(x) + s B A drop(x), run by the fused LoRA kernels. Merging folds s B A into
 * the base weight (for DoRA: W <- m / ||W + s B A||_row * (W + s B A)); unmerging takes it out again. A
 * mixed batch (one adapter per sample, HF's `adapter_names`; see mixed_batch.ts) runs the mixed-batch kernels.
 */
import { Conv1D } from '../../../nn/layers/conv1d';
import { Linear } from '../../../nn/layers/linear';
import { type ComputeDtype, needsFloatBase, QuantizedLinear } from '../../../quant/quantized_linear';
import { copyInto, Module, parameter } from '../../../nn/module';
import { noGrad } from '../../../tensor/autograd';
import { fromArray, randn, zeros } from '../../../tensor/creation';
import { seedCounter } from '../../../tensor/seed_counters';
import { loraAdd, loraLinear, loraMixed } from '../../../ops/lora/op';
import { add, matmul, sub } from '../../../tensor/ops';
import type { Tensor } from '../../../tensor/tensor';
import { AdapterDict, AdapterLayerBase, getBaseLayer } from '../adapter_layer';
import { foldDelta } from '../fold_delta';
import { mixedBatchRows } from '../../mixed_batch';
import type { LoraInit } from './config';
import { doraAdd, DoraMagnitude, doraWeightNorm } from './dora';
import { type InitResult, oloraInit, orthogonalInit, pissaInit } from './init';
import { loftqInit } from './loftq';
import type { LoftQConfig } from './loftq_config';
import { loraWarn } from './warnings';

export interface LoraAdapterSpec {
  r: number;
  alpha: number;
  dropout: number;
  /** s = alpha / r, or alpha / sqrt(r) with rsLoRA. */
  scale: number;
  init: LoraInit;
  useDora?: boolean;
  /** init 'loftq': the config's loftqConfig. */
  loftq?: LoftQConfig | null;
}

/** Each training forward with dropout takes a fresh seed; registered so checkpoints can resume it. */
const warnedDequantize = new Set<string>();
const dropoutSeeds = seedCounter('lora.dropout', 1);

type LoraBase = Linear | Conv1D | QuantizedLinear;

export class LoraLinear extends AdapterLayerBase<LoraAdapterSpec> {
  /**
   * The wrapped layer. In a mixed model (PeftMixedModel) it can be another method's adapter layer around
   * it instead (HF nests them), which runs as that layer would; `base` is the layer itself either way.
   */
  readonly base_layer: LoraBase;
  readonly lora_A: AdapterDict<Linear>;
  readonly lora_B: AdapterDict<Linear>;
  readonly lora_magnitude_vector: AdapterDict<DoraMagnitude>;
  /** DoRA merges divide by the norm of the weights before merging; unmerging needs that same norm. */
  private readonly mergedNorms = new Map<string, Float32Array>();
  /** The adapter of each sample while a mixed batch runs (set by PeftModel.forward; see mixed_batch.ts), else null. */
  private mixedNames: readonly string[] | null = null;

  constructor(base: Linear | Conv1D | QuantizedLinear) {
    super();
    this.base_layer = this.registerModule('base_layer', base);
    this.lora_A = this.registerModule('lora_A', new AdapterDict<Linear>());
    this.lora_B = this.registerModule('lora_B', new AdapterDict<Linear>());
    this.lora_magnitude_vector = this.registerModule('lora_magnitude_vector', new AdapterDict<DoraMagnitude>());
  }

  /**
   * HF's get_base_layer(): the Linear / Conv1D / QuantizedLinear itself, under any adapter layers of other
   * methods nested in between (PeftMixedModel); its weight is what merging and the fused kernels use.
   */
  get base(): LoraBase {
    return getBaseLayer(this.base_layer) as LoraBase;
  }
  /** Whether other adapter layers sit between this one and the base (a mixed model): their forward must run. */
  private get nested(): boolean {
    return this.base_layer !== this.base;
  }

  get inFeatures(): number {
    return this.base.inFeatures;
  }
  get outFeatures(): number {
    return this.base.outFeatures;
  }
  /** HF's fan_in_fan_out: the base weight is stored [in, out] (GPT-2's Conv1D). */
  get fanInFanOut(): boolean {
    return this.base instanceof Conv1D;
  }

  /**
   * Adds an adapter, initialised as HF's update_layer: A and B start as nn.Linear's default
   * (kaiming-uniform with a = sqrt 5, i.e. U(+-1/sqrt(fan_in))); init true zeroes B, 'gaussian' also
   * redraws A from N(0, (1/r)^2), false keeps both random; 'pissa', 'pissa_niter_N' and 'olora' set A
   * and B from the base weight and leave the residual in it, 'orthogonal' draws A and B with B A = 0
   * (see init.ts), 'loftq' replaces the base weight by its dequantized quantization and fits A and B to
   * the error (loftq.ts). DoRA's magnitude is then ||W + s B A||_row.
   */
  addAdapter(name: string, spec: LoraAdapterSpec): void {
    if (this.specs.has(name)) throw new Error(`LoraLinear: adapter '${name}' already exists on this layer`);
    const a = new Linear(this.inFeatures, spec.r, { bias: false });
    const b = new Linear(spec.r, this.outFeatures, { bias: false });
    const init = spec.init;
    if (typeof init === 'string' && init !== 'gaussian') {
      const result = this.weightInit(init, spec);
      noGrad(() => {
        replaceWeight(a, fromArray(Float32Array.from(result.a), [spec.r, this.inFeatures]));
        replaceWeight(b, fromArray(Float32Array.from(result.b), [this.outFeatures, spec.r]));
      });
      if (result.residual) this.writeOutIn(result.residual);
    } else {
      noGrad(() => {
        if (init === 'gaussian') replaceWeight(a, randn([spec.r, this.inFeatures], { std: 1 / spec.r }));
        if (init !== false) replaceWeight(b, zeros([this.outFeatures, spec.r]));
      });
    }
    this.lora_A.registerModule(name, a);
    this.lora_B.registerModule(name, b);
    this.specs.set(name, { ...spec, useDora: spec.useDora ?? false });
    if (spec.useDora) this.lora_magnitude_vector.registerModule(name, new DoraMagnitude(this.doraNorm(name)));
  }

  /** PiSSA / OLoRA / orthogonal (init.ts) on the float32 base weight as [out, in]. */
  private weightInit(init: string, spec: LoraAdapterSpec): InitResult {
    const out = this.outFeatures, inF = this.inFeatures;
    if (init === 'orthogonal') return orthogonalInit(out, inF, spec.r);
    if (init === 'olora' && this.base instanceof Conv1D)
      throw new Error('LoraLinear: OLoRA on a Conv1D (fan_in_fan_out) layer is not supported (HF peft reads its [in, out] weight untransposed)');
    // HF's loftq_init quantizes and decomposes the stored weight as it is: Conv1D's [in, out] gives adapters of the wrong shapes.
    if (init === 'loftq' && this.base instanceof Conv1D)
      throw new Error('LoraLinear: LoftQ on a Conv1D (fan_in_fan_out) layer is not supported (HF peft quantizes and decomposes its [in, out] weight untransposed)');
    const w = this.hostOutIn(`initLoraWeights '${init}'`);
    if (init === 'olora') return oloraInit(w, out, inF, spec.r, spec.scale);
    if (init === 'loftq') {
      if (!spec.loftq) throw new RangeError("LoraLinear: initLoraWeights 'loftq' needs the config's loftqConfig");
      return loftqInit(w, out, inF, spec.r, spec.loftq);
    }
    return pissaInit(w, out, inF, spec.r, spec.scale, init);
  }

  /** The float32 base weight on the host as [out, in]. */
  private hostOutIn(what: string): Float64Array {
    const raw = this.floatWeight(what).toFloat32Array();
    const out = this.outFeatures, inF = this.inFeatures;
    if (!(this.base instanceof Conv1D)) return Float64Array.from(raw);
    const t = new Float64Array(out * inF);
    for (let i = 0; i < inF; i++) for (let o = 0; o < out; o++) t[o * inF + i] = raw[i * out + o];
    return t;
  }

  /** Writes an [out, in] host matrix into the float32 base weight (transposed back for Conv1D). */
  private writeOutIn(w: Float64Array): void {
    const out = this.outFeatures, inF = this.inFeatures;
    let stored = Float32Array.from(w);
    if (this.base instanceof Conv1D) {
      stored = new Float32Array(out * inF);
      for (let i = 0; i < inF; i++) for (let o = 0; o < out; o++) stored[i * out + o] = w[o * inF + i];
    }
    noGrad(() => this.writeWeight(stored));
  }

  private doraNorm(name: string): Tensor {
    return doraWeightNorm(this.weightOutIn(), this.lora_A.get(name).weight, this.lora_B.get(name).weight, this.specs.get(name)!.scale);
  }

  protected disposeAdapter(name: string): void {
    for (const dict of [this.lora_A, this.lora_B, this.lora_magnitude_vector] as AdapterDict<Module>[]) {
      if (!dict.has(name)) continue;
      dict.get(name).dispose();
      dict.registerModule(name, null);
    }
  }

  /** The base weight as [out, in] (a transposed view for Conv1D's [in, out] storage). */
  weightOutIn(): Tensor {
    const base = this.base;
    if (base instanceof QuantizedLinear) throw this.quantizedBase('this operation');
    return base instanceof Conv1D ? base.weight.T : base.weight;
  }

  /** The compute dtype of the low-precision base merging dequantized (null: it was float32 all along). */
  dequantizedBaseCompute: ComputeDtype | null = null;

  /**
   * Merging into a quantized base: as HF peft, the weight is dequantized and the adapter folded into it, in
   * float32 while the layer stays (so unmerge is exact); mergeAndUnload then stores it as bf16 (or keeps
   * float32, by option). It says so.
   */
  private dequantizeBase(): void {
    // Only a LoRA layer directly on its base (as every PeftModel builds) can swap that base for a float one.
    if (this.nested) throw new Error('LoraLinear: merging into a quantized base under nested adapter layers is not supported');
    const q = this.base_layer as QuantizedLinear;
    // Once per format, as Python's warnings.warn shows a warning once per place.
    if (!warnedDequantize.has(q.weight.format)) {
      loraWarn(`Merging into ${q.weight.format} base weights: they are dequantized and the adapters folded in; mergeAndUnload() ` +
        "stores the merged layers as bfloat16 (pass { dtype: 'float32' } to keep float32); the rounding of the quantized weights stays in them.");
    }
    warnedDequantize.add(q.weight.format);
    this.dequantizedBaseCompute = q.computeDtype;
    const linear = new Linear(q.inFeatures, q.outFeatures, { bias: q.bias !== null });
    noGrad(() => {
      const w = q.weight.dequantize();
      copyInto(linear.weight, w);
      w.dispose();
      if (q.bias && linear.bias) copyInto(linear.bias, q.bias);
    });
    linear.weight.requiresGrad_(false);
    linear.bias?.requiresGrad_(q.bias?.requiresGrad ?? false);
    (this as { base_layer: Linear | Conv1D | QuantizedLinear }).base_layer = this.registerModule('base_layer', linear);
  }

  /** The float32 base weight as stored (merging writes into it). */
  private floatWeight(what: string): Tensor {
    const base = this.base;
    if (base instanceof QuantizedLinear) throw this.quantizedBase(what);
    return base.weight;
  }

  /** What runs on a float32 base only (merging, DoRA, mixed batches) refuses a quantized one by name. */
  private quantizedBase(what: string): Error {
    return needsFloatBase('LoraLinear', what, this.base as QuantizedLinear);
  }


  setMixedBatch(names: readonly string[] | null): void {
    this.mixedNames = names;
  }

  /** Adapter n's scale, and its dropout with a fresh seed while training. */
  private runOptions(n: string) {
    const s = this.specs.get(n)!;
    return { scale: s.scale, dropout: this.training ? s.dropout : 0, seed: this.training && s.dropout > 0 ? dropoutSeeds.next() : 0 };
  }

  forward(x: Tensor): Tensor {
    if (this.disabled && this.merged.length > 0) throw new Error('LoraLinear: adapters are merged into the weights; unmerge() before disabling them');
    if (this.mixedNames !== null && !this.disabled) return this.mixedForward(x, this.mixedNames);
    const running = this.disabled ? [] : this.active.filter((n) => !this.merged.includes(n));
    if (running.length === 0) return this.base_layer.forward(x);
    const opts = (n: string) => this.runOptions(n);
    // As HF: each adapter adds to the running result in order; the first plain one fuses with the base GEMM.
    let y: Tensor | null = null;
    for (const n of running) {
      const a = this.lora_A.get(n).weight, b = this.lora_B.get(n).weight;
      if (this.specs.get(n)!.useDora) {
        y ??= this.base_layer.forward(x);
        y = doraAdd({ x, result: y, wOutIn: this.weightOutIn(), bias: this.base.bias, a, b,
          magnitude: this.lora_magnitude_vector.get(n).weight, ...opts(n) });
      } else {
        // A quantized base runs its own panel-wise GEMM, and nested adapter layers (a mixed model) their own
        // forward, as HF's self.base_layer(x); the adapter's term is then added by the fused kernel.
        if (y === null && (this.base instanceof QuantizedLinear || this.nested)) y = this.base_layer.forward(x);
        y = y === null ? loraLinear(x, this.weightOutIn(), this.base.bias, a, b, opts(n)) : loraAdd(y, x, a, b, opts(n));
      }
    }
    return y!;
  }

  /** One adapter per sample (HF's _mixed_batch_forward), on the mixed kernels; differentiable. */
  private mixedForward(x: Tensor, names: readonly string[]): Tensor {
    if (this.merged.length > 0) throw new Error('LoraLinear: cannot run a mixed batch (adapterNames) with merged adapters; unmerge() first');
    if (this.nested) throw new Error('LoraLinear: a mixed batch (adapterNames) cannot run through nested adapter layers (PeftMixedModel)');
    if (this.base instanceof QuantizedLinear) throw this.quantizedBase('a mixed batch (adapterNames)');
    const { used, rowAdapter } = mixedBatchRows(names, x, (n) => this.specs.has(n), 'LoraLinear');
    const dora = used.find((n) => this.specs.get(n)!.useDora);
    if (dora !== undefined) throw new Error(`LoraLinear: cannot run a mixed batch (adapterNames) with DoRA adapter '${dora}', as HF peft`);
    if (used.length === 0) return this.base_layer.forward(x);
    const adapters = used.map((n) => ({ a: this.lora_A.get(n).weight, b: this.lora_B.get(n).weight, ...this.runOptions(n) }));
    return loraMixed(x, this.weightOutIn(), this.base.bias, adapters, rowAdapter);
  }

  /** s B A as the base weight's layout ([out, in], or [in, out] for Conv1D). */
  deltaWeight(name: string): Tensor {
    const s = this.specs.get(name)!;
    return noGrad(() => {
      const ab = matmul(this.lora_B.get(name).weight, this.lora_A.get(name).weight, { alpha: s.scale });
      if (!(this.base instanceof Conv1D)) return ab;
      const t = ab.T.contiguous();
      ab.dispose();
      return t;
    });
  }

  merge(names: string[]): void {
    if (this.base instanceof QuantizedLinear && names.some((n) => this.specs.has(n))) this.dequantizeBase();
    for (const n of names) {
      if (this.merged.includes(n) || !this.specs.has(n)) continue;
      if (this.specs.get(n)!.useDora) this.mergeDora(n);
      else this.applyDelta(n, add);
      this.merged.push(n);
    }
  }

  unmerge(): void {
    while (this.merged.length > 0) {
      const n = this.merged.pop()!;
      if (this.specs.get(n)!.useDora) this.unmergeDora(n);
      else this.applyDelta(n, sub);
    }
  }

  private applyDelta(name: string, op: (a: Tensor, b: Tensor) => Tensor): void {
    foldDelta(this.floatWeight('merging'), this.deltaWeight(name), op);
  }

  /** HF's DoraLinearVariant.merge_safe: W <- (m / ||W + dW||_row) (W + dW), the norm kept for unmerging. */
  private mergeDora(name: string): void {
    const { w, delta, rowOf } = this.hostWeights(name);
    const out = this.outFeatures;
    const norm = new Float64Array(out);
    for (let i = 0; i < w.length; i++) norm[rowOf(i)] += (w[i] + delta[i]) ** 2;
    const norm32 = Float32Array.from(norm, Math.sqrt);
    const m = this.lora_magnitude_vector.get(name).weight.toFloat32Array();
    const next = new Float32Array(w.length);
    for (let i = 0; i < w.length; i++) next[i] = (m[rowOf(i)] / norm32[rowOf(i)]) * (w[i] + delta[i]);
    this.mergedNorms.set(name, norm32);
    this.writeWeight(next);
  }

  /** HF's DoraLinearVariant.unmerge: W <- W / (m / norm) - dW with the norm kept at merge time. */
  private unmergeDora(name: string): void {
    const { w, delta, rowOf } = this.hostWeights(name);
    const norm = this.mergedNorms.get(name)!;
    const m = this.lora_magnitude_vector.get(name).weight.toFloat32Array();
    const next = new Float32Array(w.length);
    for (let i = 0; i < w.length; i++) next[i] = w[i] / (m[rowOf(i)] / norm[rowOf(i)]) - delta[i];
    this.mergedNorms.delete(name);
    this.writeWeight(next);
  }

  /** W and s B A on the host in the base weight's layout, and the output row of each element. */
  private hostWeights(name: string) {
    const w = this.floatWeight('DoRA').toFloat32Array();
    const d = this.deltaWeight(name);
    const delta = d.toFloat32Array();
    d.dispose();
    const out = this.outFeatures, inF = this.inFeatures;
    const rowOf = this.base instanceof Conv1D ? (i: number) => i % out : (i: number) => Math.floor(i / inF);
    return { w, delta, rowOf };
  }

  private writeWeight(values: Float32Array): void {
    const weight = this.floatWeight('writing the base weight');
    const t = fromArray(values, weight.shape);
    copyInto(weight, t);
    t.dispose();
  }
}

function replaceWeight(m: Linear, t: Tensor): void {
  m.weight.dispose();
  m.setWeight(parameter(t));
}
