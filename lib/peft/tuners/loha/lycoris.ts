/**
 * What LoHa and LoKr share, as HF peft's tuners/lycoris_utils.py: the config fields of LycorisConfig (and
 * the ones both configs declare alike), LycorisLayer's forward / merge / unmerge around a delta weight
 * that each method builds from its factors, and the injection (LycorisTuner._create_new_module). HF adapts
 * torch's Linear, Conv1d and Conv2d; peftjs has no convolutions, so Linear only, and GPT-2's Conv1D is
 * refused as HF refuses it (it is not a torch.nn.Conv1d).
 *
 * The forward's adapter term x dW^T goes through deltaForward(): LoHa and LoKr compute it with one autograd
 * node each that never forms the dense [out, in] delta or its gradient (loha/hada_op.ts, lokr/kron_linear_op.ts).
 * deltaWeight() (the delta built from the factors with differentiable matmul/mul/kron) stays the definition:
 * merge/unmerge fold it, and `fusedDelta = false` runs the forward through it (linear(x, deltaWeight)), the
 * reference the fused ops are tested against.
 */
import { Linear } from '../../../nn/layers/linear';
import type { Module } from '../../../nn/module';
import { parameter } from '../../../nn/module';
import { noGrad } from '../../../tensor/autograd';
import { fromArray, rand, zeros } from '../../../tensor/creation';
import { add, linear, mul } from '../../../tensor/ops';
import type { Tensor } from '../../../tensor/tensor';
import { PeftConfig } from '../../config';
import type { PeftModel } from '../../peft_model';
import { fillDefaultTargets } from '../../target_module_mapping';
import { findTargets, isTargeted, patternValue } from '../../targets';
import { AdapterLayerBase, getBaseLayer, ParameterDict } from '../adapter_layer';

const isNameList = (v: unknown) => v === null || typeof v === 'string' || (Array.isArray(v) && v.every((s) => typeof s === 'string'));

/** Checks shared by every config here: each throws naming the field (camelCase, as the TS API spells it). */
export function checkCommonFields(cls: string, c: Record<string, unknown>): void {
  for (const f of ['targetModules', 'excludeModules', 'layersPattern'])
    if (f in c && !isNameList(c[f])) throw new TypeError(`${cls}: ${f} must be a list of names, a regex string or null, got ${JSON.stringify(c[f])}`);
  if ('modulesToSave' in c && c.modulesToSave !== null && !(Array.isArray(c.modulesToSave) && c.modulesToSave.every((s) => typeof s === 'string')))
    throw new TypeError(`${cls}: modulesToSave must be a list of names or null, got ${JSON.stringify(c.modulesToSave)}`);
  const layers = c.layersToTransform;
  if (layers !== null && layers !== undefined && !Number.isInteger(layers) && !(Array.isArray(layers) && layers.every((i) => Number.isInteger(i))))
    throw new TypeError(`${cls}: layersToTransform must be an integer, a list of integers or null, got ${JSON.stringify(layers)}`);
  // HF's __post_init__: "When `layers_pattern` is specified, `layers_to_transform` must also be specified."
  const pattern = c.layersPattern as string | string[] | null | undefined;
  if (pattern && pattern.length > 0 && (layers === null || layers === undefined))
    throw new RangeError(`${cls}: when layersPattern is specified, layersToTransform must also be specified`);
}

export function checkPositiveInt(cls: string, field: string, v: unknown): void {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new RangeError(`${cls}: ${field} must be a positive integer, got ${JSON.stringify(v)}`);
}

export function checkProbability(cls: string, field: string, v: unknown): void {
  if (typeof v !== 'number' || !(v >= 0 && v <= 1)) throw new RangeError(`${cls}: ${field} must be a number in [0, 1], got ${JSON.stringify(v)}`);
}

export function checkBoolean(cls: string, field: string, v: unknown): void {
  if (typeof v !== 'boolean') throw new TypeError(`${cls}: ${field} must be a boolean, got ${JSON.stringify(v)}`);
}

/** LycorisConfig's fields and the ones LoHaConfig and LoKrConfig both declare, with HF's defaults. */
export abstract class LycorisConfig extends PeftConfig {
  r = 8;
  alpha = 8;
  rankDropout = 0;
  moduleDropout = 0;
  useEffectiveConv2d = false;
  targetModules: string[] | string | null = null;
  excludeModules: string[] | string | null = null;
  layersToTransform: number[] | number | null = null;
  layersPattern: string[] | string | null = null;
  rankPattern: Record<string, number> = {};
  alphaPattern: Record<string, number> = {};
  modulesToSave: string[] | null = null;

  /** The class name for messages (a method, so it is not written to adapter_config.json). */
  protected abstract configName(): string;

  override validate(): void {
    const cls = this.configName();
    checkPositiveInt(cls, 'r', this.r);
    if (typeof this.alpha !== 'number' || !Number.isFinite(this.alpha)) throw new TypeError(`${cls}: alpha must be a number, got ${JSON.stringify(this.alpha)}`);
    checkProbability(cls, 'rankDropout', this.rankDropout);
    checkProbability(cls, 'moduleDropout', this.moduleDropout);
    checkBoolean(cls, 'useEffectiveConv2d', this.useEffectiveConv2d);
    if (this.useEffectiveConv2d)
      throw new RangeError(`${cls}: useEffectiveConv2d = true decomposes Conv2d/Conv1d kernels, and peftjs adapts Linear layers only; set it to false`);
    checkCommonFields(cls, this as unknown as Record<string, unknown>);
    for (const [p, v] of Object.entries(this.rankPattern ?? {}))
      if (!Number.isInteger(v) || v < 1) throw new RangeError(`${cls}: rankPattern['${p}'] must be a positive integer, got ${JSON.stringify(v)}`);
    for (const [p, v] of Object.entries(this.alphaPattern ?? {}))
      if (typeof v !== 'number' || !Number.isFinite(v)) throw new TypeError(`${cls}: alphaPattern['${p}'] must be a number, got ${JSON.stringify(v)}`);
  }
}

/** One adapter's settings on one layer (LycorisLayer's r, alpha, scaling, rank_dropout, module_dropout dicts). */
export interface LycorisSpec {
  r: number;
  alpha: number;
  /** alpha / r. */
  scaling: number;
  rankDropout: number;
  moduleDropout: number;
  /** LoHa always rescales the kept rows by 1 / mean(kept); LoKr only with rank_dropout_scale. */
  rankDropoutScale: boolean;
}

/** torch's kaiming_uniform_(t, a = sqrt 5) on a [rows, fanIn] matrix: U(+-1 / sqrt(fanIn)). */
export function kaimingUniform(shape: [number, number]): Tensor {
  const bound = 1 / Math.sqrt(shape[1]);
  return noGrad(() => rand(shape, { low: -bound, high: bound }));
}

export function zeroMatrix(shape: [number, number]): Tensor {
  return noGrad(() => zeros(shape));
}

/**
 * A Linear with LyCORIS adapters: `base_layer` and the method's ParameterDicts. y = base(x) + x dW^T per
 * running adapter, dW built by deltaWeight(); in training, module_dropout skips an adapter for a whole
 * call and rank_dropout zeroes output rows of dW (as HF: the rows of the weight, not the rank).
 */
export abstract class LycorisLinear extends AdapterLayerBase<LycorisSpec> {
  /**
   * The wrapped Linear. In a mixed model (PeftMixedModel) it can be another method's adapter layer around
   * it instead (HF nests them), which runs as the Linear would; `base` is the Linear either way.
   */
  readonly base_layer: Linear;

  constructor(base: Linear) {
    super();
    this.base_layer = this.registerModule('base_layer', base);
  }

  /** HF's get_base_layer(): the Linear under any nested adapter layers; merging folds into its weight. */
  get base(): Linear {
    return getBaseLayer(this.base_layer) as Linear;
  }

  get inFeatures(): number {
    return this.base.inFeatures;
  }
  get outFeatures(): number {
    return this.base.outFeatures;
  }

  /** The names of this method's ParameterDicts (HF's adapter_layer_names). */
  protected abstract dicts(): ParameterDict[];
  /** The scaled delta weight [out, in] of adapter `name`, differentiable in its factors (no dropout). */
  abstract deltaWeight(name: string): Tensor;

  /**
   * Whether forward() takes the method's fused op for x dW^T (true), or the generic autograd path
   * linear(x, deltaWeight(name)) (false: the reference, for tests and timing comparisons).
   */
  fusedDelta = true;

  /** x dW^T for adapter `name` (no dropout); the methods override it with their fused op. */
  protected deltaForward(x: Tensor, name: string): Tensor {
    return linear(x, this.deltaWeight(name));
  }

  protected setParam(dict: ParameterDict, name: string, t: Tensor): void {
    dict.set(name, parameter(t));
  }

  protected disposeAdapter(name: string): void {
    for (const d of this.dicts()) {
      const held = d.localParameters().find(([n]) => n === name);
      if (!held) continue;
      held[1].dispose();
      d.set(name, null);
    }
  }

  forward(x: Tensor): Tensor {
    const cls = this.constructor.name;
    if (this.disabled && this.merged.length > 0) throw new Error(`${cls}: adapters are merged into the weights; unmerge() before disabling them`);
    let y = this.base_layer.forward(x);
    if (this.disabled) return y;
    for (const n of this.active) {
      if (this.merged.includes(n)) continue;
      const s = this.specs.get(n)!;
      // HF: the adapter runs unless training and torch.rand(1) <= module_dropout.
      if (this.training && s.moduleDropout > 0 && drawOne() <= s.moduleDropout) continue;
      // rank_dropout stays a mask on the term's output (dW's rows) after either path, exactly as before.
      let delta = this.fusedDelta ? this.deltaForward(x, n) : linear(x, this.deltaWeight(n));
      if (this.training && s.rankDropout > 0) delta = mul(delta, rowMask(this.outFeatures, s.rankDropout, s.rankDropoutScale));
      y = add(y, delta);
    }
    return y;
  }

  merge(names: string[]): void {
    this.mergeDeltas(this.base.weight, names, (n) => this.deltaWeight(n));
  }

  unmerge(): void {
    this.unmergeDeltas(this.base.weight, (n) => this.deltaWeight(n));
  }
}

function drawOne(): number {
  return noGrad(() => {
    const t = rand([1]);
    const v = t.item();
    t.dispose();
    return v;
  });
}

/**
 * HF's rank dropout: keep output row o when rand > p, then (LoHa, or LoKr with rank_dropout_scale) divide
 * by the mean of the mask. Applied to x dW^T's output columns, which is dW's rows.
 */
function rowMask(out: number, p: number, rescale: boolean): Tensor {
  return noGrad(() => {
    const u = rand([out]);
    const r = u.toFloat32Array();
    u.dispose();
    const keep = Float32Array.from(r, (v) => (v > p ? 1 : 0));
    const mean = keep.reduce((a, b) => a + b, 0) / out;
    if (rescale) for (let i = 0; i < out; i++) keep[i] = mean > 0 ? keep[i] / mean : keep[i];
    return fromArray(keep, [out]);
  });
}

/**
 * LycorisTuner's injection: each targeted Linear becomes (or already is) the method's layer, with r and
 * alpha from rank_pattern / alpha_pattern; any other targeted module is refused as HF refuses it.
 */
export function injectLycoris<L extends LycorisLinear>(
  peft: PeftModel, config: LycorisConfig, name: string, method: string,
  isLayer: (m: Module) => m is L, make: (base: Linear) => L, addTo: (layer: L, path: string, spec: LycorisSpec) => void,
  rankDropoutScale: boolean,
): void {
  const model = peft.model;
  fillDefaultTargets(model, config, method);
  config.validate();
  for (const [key, m] of model.namedModules()) {
    if (key === '' || !isTargeted(config, key, m) || m instanceof Linear || isLayer(m)) continue;
    throw new TypeError(`${method}: target module '${key}' of type ${m.constructor.name} is not supported; currently only adapters for Linear are supported ` +
      '(HF peft adapts torch.nn.Linear, Conv1d and Conv2d, and refuses transformers\' Conv1D the same way)');
  }
  for (const [path, m] of findTargets(model, config, (mod) => mod instanceof Linear || isLayer(mod), method)) {
    const r = patternValue(config.rankPattern, path, config.r);
    const alpha = patternValue(config.alphaPattern, path, config.alpha);
    if (!Number.isInteger(r) || r < 1) throw new RangeError(`${method}: r should be a positive integer value but the value passed is ${r} (at '${path}')`);
    const layer = isLayer(m) ? m : make(m as Linear);
    if (layer !== m) model.setSubmodule(path, layer);
    addTo(layer, path, { r, alpha, scaling: alpha / r, rankDropout: config.rankDropout, moduleDropout: config.moduleDropout, rankDropoutScale });
  }
}
