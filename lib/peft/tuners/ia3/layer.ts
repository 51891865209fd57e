/**
 * Ia3Linear: a Linear (or GPT-2 Conv1D) with (IA)3 scaling vectors, HF's ia3.Linear: `base_layer` and
 * `ia3_l.<name>` per adapter — [out, 1] scaling the output (keys, values), or [1, in] scaling the input
 * (feed-forward down-projections). Several active adapters multiply (as HF). Runs on the fused kernels
 * (lib/ops/ia3/op.ts); a mixed batch (one adapter per sample) on the mixed kernels. Merging scales W's
 * rows (output) or columns (input) — and the bias for output scaling; unmerging divides, as HF does
 * (by l + 1e-8).
 */
import { needsFloatBase, QuantizedLinear } from '../../../quant/quantized_linear';
import type { Ia3Mode } from '../../../ops/ia3/kernel';
import { Conv1D } from '../../../nn/layers/conv1d';
import type { Linear } from '../../../nn/layers/linear';
import { parameter } from '../../../nn/module';
import { noGrad } from '../../../tensor/autograd';
import { ones, randn } from '../../../tensor/creation';
import { ia3Linear, ia3Mixed } from '../../../ops/ia3/op';
import { mul } from '../../../tensor/ops';
import { backendFor, type Tensor } from '../../../tensor/tensor';
import { mixedBatchRows } from '../../mixed_batch';
import { AdapterLayerBase, ParameterDict } from '../adapter_layer';

/** HF's unmerge divides by l + 1e-8 (so a zero scale does not divide by zero). */
const UNMERGE_EPS = 1e-8;

/** An (IA)3 vector's setting: whether it started at ones (HF's init_ia3_weights) or random. */
interface Ia3Spec {
  initOnes: boolean;
}

export class Ia3Linear extends AdapterLayerBase<Ia3Spec> {
  readonly base_layer: Linear | Conv1D | QuantizedLinear;
  readonly ia3_l: ParameterDict;
  /** The adapter of each sample while a mixed batch runs (set by PeftModel.forward; see mixed_batch.ts), else null. */
  private mixedNames: readonly string[] | null = null;

  constructor(base: Linear | Conv1D | QuantizedLinear, readonly isFeedforward: boolean) {
    super();
    this.base_layer = this.registerModule('base_layer', base);
    this.ia3_l = this.registerModule('ia3_l', new ParameterDict());
  }

  get inFeatures(): number {
    return this.base_layer.inFeatures;
  }
  get outFeatures(): number {
    return this.base_layer.outFeatures;
  }
  get mode(): Ia3Mode {
    return this.isFeedforward ? 'input' : 'output';
  }
  /** The shape HF gives ia3_l: [1, in] for feed-forward layers, else [out, 1]. */
  get vectorShape(): number[] {
    return this.isFeedforward ? [1, this.inFeatures] : [this.outFeatures, 1];
  }

  addAdapter(name: string, initOnes: boolean): void {
    const t = noGrad(() => (initOnes ? ones(this.vectorShape) : randn(this.vectorShape)));
    this.ia3_l.set(name, parameter(t));
    this.specs.set(name, { initOnes });
  }

  protected disposeAdapter(name: string): void {
    this.ia3_l.get(name).dispose();
    this.ia3_l.set(name, null);
  }

  setMixedBatch(names: readonly string[] | null): void {
    this.mixedNames = names;
  }

  /** The base weight as [out, in] (a transposed view for Conv1D's [in, out] storage). */
  private weightOutIn(): Tensor {
    const base = this.base_layer;
    if (base instanceof QuantizedLinear) throw this.quantizedBase('this operation');
    return base instanceof Conv1D ? base.weight.T : base.weight;
  }

  /** What needs a float32 base (merging, mixed batches) refuses a quantized one by name. */
  private quantizedBase(what: string): Error {
    return needsFloatBase('Ia3Linear', what, this.base_layer as QuantizedLinear);
  }


  /** (IA)3 over a quantized base: the scale around its panel-wise GEMM (output: after it; input: before). */
  private quantizedForward(x: Tensor, l: Tensor): Tensor {
    const base = this.base_layer as QuantizedLinear;
    const row = l.reshape([l.size]);
    return this.mode === 'output' ? mul(base.forward(x), row) : base.forward(mul(x, row));
  }

  forward(x: Tensor): Tensor {
    if (this.disabled && this.merged.length > 0) throw new Error('Ia3Linear: adapters are merged into the weights; unmerge() before disabling them');
    if (this.disabled) return this.base_layer.forward(x);
    if (this.mixedNames !== null) return this.mixedForward(x, this.mixedNames);
    const running = this.active.filter((n) => !this.merged.includes(n));
    if (running.length === 0) return this.base_layer.forward(x);
    let l = this.ia3_l.get(running[0]);
    for (const n of running.slice(1)) l = mul(l, this.ia3_l.get(n));
    if (this.base_layer instanceof QuantizedLinear) return this.quantizedForward(x, l);
    return ia3Linear(x, this.weightOutIn(), this.base_layer.bias, l, this.mode);
  }

  /** One adapter per sample (HF's _mixed_batch_forward), on the mixed kernels; differentiable. */
  private mixedForward(x: Tensor, names: readonly string[]): Tensor {
    if (this.merged.length > 0) throw new Error('Ia3Linear: cannot run a mixed batch (adapterNames) with merged adapters; unmerge() first');
    if (this.base_layer instanceof QuantizedLinear) throw this.quantizedBase('a mixed batch (adapterNames)');
    const { used, rowAdapter } = mixedBatchRows(names, x, (n) => this.specs.has(n), 'Ia3Linear');
    if (used.length === 0) return this.base_layer.forward(x);
    return ia3Mixed(x, this.weightOutIn(), this.base_layer.bias, used.map((n) => this.ia3_l.get(n)), rowAdapter, this.mode);
  }

  merge(names: string[]): void {
    for (const n of names) {
      if (this.merged.includes(n) || !this.specs.has(n)) continue;
      this.scaleWeights(this.ia3_l.get(n), (w, l) => w * l);
      this.merged.push(n);
    }
  }

  unmerge(): void {
    while (this.merged.length > 0) this.scaleWeights(this.ia3_l.get(this.merged.pop()!), (w, l) => w / (l + UNMERGE_EPS));
  }

  /**
   * Applies f(w, l) to every weight entry with the l of its output row (output scaling; the bias too) or its
   * input column (input scaling), in the base layer's own layout ([out, in], or [in, out] for Conv1D).
   */
  private scaleWeights(lt: Tensor, f: (w: number, l: number) => number): void {
    if (this.base_layer instanceof QuantizedLinear) throw this.quantizedBase('merging');
    const l = lt.toFloat32Array();
    const weight = this.base_layer.weight;
    const w = weight.toFloat32Array();
    const [rows, cols] = weight.shape;
    // Which index of W carries the scaled dimension: Linear rows are outputs, Conv1D rows are inputs.
    const byRow = (this.base_layer instanceof Conv1D) === this.isFeedforward;
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) w[r * cols + c] = f(w[r * cols + c], l[byRow ? r : c]);
    writeValues(weight, w);
    const bias = this.base_layer.bias;
    if (!this.isFeedforward && bias) {
      const b = bias.toFloat32Array();
      for (let i = 0; i < b.length; i++) b[i] = f(b[i], l[i]);
      writeValues(bias, b);
    }
  }
}

/** Overwrites a contiguous tensor's values in place (merging edits the frozen base weights). */
function writeValues(t: Tensor, values: Float32Array): void {
  backendFor(t, 'Ia3Linear.merge').write(t.buf(), values);
}
