/**
 * VeraLinear: a Linear (or GPT-2 Conv1D) with VeRA adapters, HF's vera.Linear (src/peft/tuners/vera/
 * layer.py): `base_layer`, and per adapter the trainable `vera_lambda_b` [out] and `vera_lambda_d` [r]
 * over the frozen random projections vera_A [r, max in] and vera_B [max out, r] that every layer shares
 * (VeraProjections): y = base(x) + lambda_b * ((lambda_d * (drop(x) A[:, :in]^T)) B[:out, :]^T).
 * Initialisation as reset_vera_parameters: lambda_b = 0 (the identity), lambda_d = d_initial; with
 * init_weights false lambda_b = 1 and lambda_d ~ N(0, 1), as the parameters are created. Merging folds
 * (lambda_b B) (lambda_d A) into the base weight (transposed for Conv1D's [in, out] storage). Layers reading
 * the same input share x A^T (VeraProjections.projectInput).
 */
import { Conv1D } from '../../../nn/layers/conv1d';
import type { Linear } from '../../../nn/layers/linear';
import { parameter } from '../../../nn/module';
import { noGrad } from '../../../tensor/autograd';
import { fromArray, full, ones, randn } from '../../../tensor/creation';
import { dropout } from '../../../tensor/shape_ops';
import { add, linear, matmul, mul } from '../../../tensor/ops';
import type { Tensor } from '../../../tensor/tensor';
import { AdapterLayerBase, ParameterDict } from '../adapter_layer';

/**
 * The shared frozen projections of a model's VeRA adapters (HF's VeraModel.vera_A / vera_B buffers: not
 * parameters, so neither trained nor counted). Each layer reads the top-left block it needs; the blocks
 * are made contiguous once per layer shape and shared by the layers of that shape.
 */
export class VeraProjections {
  /** A[:r, :in] by `r x in`, B[:out, :r] by `out x r`: layers of equal input width share one A block. */
  private readonly blocks = new Map<string, Tensor>();

  constructor(readonly vera_A: Tensor, readonly vera_B: Tensor, readonly prngKey: number, readonly saveProjection: boolean) {}

  get r(): number {
    return this.vera_A.shape[0];
  }
  get maxIn(): number {
    return this.vera_A.shape[1];
  }
  get maxOut(): number {
    return this.vera_B.shape[0];
  }

  /** A[:r, :in] and B[:out, :r], contiguous. */
  block(r: number, inF: number, out: number): { a: Tensor; b: Tensor } {
    return {
      a: this.cut(`A ${r}x${inF}`, () => this.vera_A.slice(0, 0, r).slice(1, 0, inF)),
      b: this.cut(`B ${out}x${r}`, () => this.vera_B.slice(0, 0, out).slice(1, 0, r)),
    };
  }

  private cut(key: string, view: () => Tensor): Tensor {
    let t = this.blocks.get(key);
    if (!t) {
      t = noGrad(() => parameter(view().contiguous(), false));
      this.blocks.set(key, t);
    }
    return t;
  }

  /**
   * x A[:r, :in]^T, shared by the layers that read the same input: q, k and v of one attention block all
   * project the same hidden states by the same A block, so the product is made once per block and input
   * (autograd sums the layers' gradients into it). Only for an undropped x (dropout draws a mask per layer).
   */
  projectInput(x: Tensor, r: number, inF: number, out: number): Tensor {
    const a = this.block(r, inF, out).a;
    const hit = this.lastProjection;
    if (hit && hit.x === x && hit.a === a && !hit.u.isDisposed && !x.isDisposed) return hit.u;
    const u = linear(x, a);
    this.lastProjection = { x, a, u };
    return u;
  }

  private lastProjection: { x: Tensor; a: Tensor; u: Tensor } | null = null;

  /** After vera_A / vera_B were overwritten (loading): the blocks are cut again on next use. */
  invalidate(): void {
    this.lastProjection = null;
    for (const t of this.blocks.values()) t.dispose();
    this.blocks.clear();
  }

  dispose(): void {
    this.invalidate();
    this.vera_A.dispose();
    this.vera_B.dispose();
  }
}

interface VeraSpec {
  r: number;
  dropout: number;
}

export class VeraLinear extends AdapterLayerBase<VeraSpec> {
  readonly base_layer: Linear | Conv1D;
  readonly vera_lambda_b: ParameterDict;
  readonly vera_lambda_d: ParameterDict;
  /** The shared projections each adapter reads (the same object for every adapter of a model). */
  private readonly projections = new Map<string, VeraProjections>();

  constructor(base: Linear | Conv1D) {
    super();
    this.base_layer = this.registerModule('base_layer', base);
    this.vera_lambda_b = this.registerModule('vera_lambda_b', new ParameterDict());
    this.vera_lambda_d = this.registerModule('vera_lambda_d', new ParameterDict());
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

  addAdapter(name: string, r: number, projections: VeraProjections, opts: { dropout: number; initWeights: boolean; dInitial: number }): void {
    if (this.specs.has(name)) throw new Error(`VeraLinear: adapter '${name}' already exists on this layer`);
    // HF creates lambda_b = ones(out) and lambda_d = randn(r), then reset_vera_parameters (init_weights) sets 0 and d_initial.
    const [lb, ld] = noGrad(() => opts.initWeights
      ? [full([this.outFeatures], 0), full([r], opts.dInitial)]
      : [ones([this.outFeatures]), randn([r])]);
    this.vera_lambda_b.set(name, parameter(lb));
    this.vera_lambda_d.set(name, parameter(ld));
    this.projections.set(name, projections);
    this.specs.set(name, { r, dropout: opts.dropout });
  }

  protected disposeAdapter(name: string): void {
    for (const d of [this.vera_lambda_b, this.vera_lambda_d]) {
      d.get(name).dispose();
      d.set(name, null);
    }
    this.projections.delete(name);
  }

  private block(name: string): { a: Tensor; b: Tensor } {
    return this.projections.get(name)!.block(this.specs.get(name)!.r, this.inFeatures, this.outFeatures);
  }

  forward(x: Tensor): Tensor {
    if (this.disabled && this.merged.length > 0) throw new Error('VeraLinear: adapters are merged into the weights; unmerge() before disabling them');
    let y = this.base_layer.forward(x);
    if (this.disabled) return y;
    for (const n of this.active) {
      if (this.merged.includes(n)) continue;
      const { a, b } = this.block(n);
      const s = this.specs.get(n)!;
      const u = s.dropout > 0 && this.training
        ? linear(dropout(x, s.dropout, true), a)
        : this.projections.get(n)!.projectInput(x, s.r, this.inFeatures, this.outFeatures);
      const h = mul(u, this.vera_lambda_d.get(n));
      y = add(y, mul(linear(h, b), this.vera_lambda_b.get(n)));
    }
    return y;
  }

  /** (lambda_b B) (lambda_d A) in the base weight's layout ([out, in], or [in, out] for Conv1D). */
  deltaWeight(name: string): Tensor {
    return noGrad(() => {
      const { a, b } = this.block(name);
      const bd = mul(b, this.vera_lambda_d.get(name));          // B diag(lambda_d)   [out, r]
      const at = a.T.contiguous(), bdt = bd.T.contiguous();
      const prod = matmul(at, bdt);                               // (B diag(d) A)^T   [in, out]
      const inOut = mul(prod, this.vera_lambda_b.get(name));      // ... diag(lambda_b)
      [bd, at, bdt, prod].forEach((t) => t.dispose());
      if (this.fanInFanOut) return inOut;
      const outIn = inOut.T.contiguous();
      inOut.dispose();
      return outIn;
    });
  }

  merge(names: string[]): void {
    this.mergeDeltas(this.base_layer.weight, names, (n) => this.deltaWeight(n));
  }

  unmerge(): void {
    this.unmergeDeltas(this.base_layer.weight, (n) => this.deltaWeight(n));
  }
}

/** A projection tensor from host values, frozen (never trained, never disposed by a tidy scope). */
export function frozenTensor(values: Float32Array, shape: number[]): Tensor {
  return noGrad(() => parameter(fromArray(values, shape), false));
}
