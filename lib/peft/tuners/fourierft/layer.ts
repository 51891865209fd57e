/**
 * FourierFTLinear: a Linear (or GPT-2's Conv1D) with FourierFT adapters, HF's fourierft.FourierFTLinear
 * (src/peft/tuners/fourierft/layer.py): `base_layer` and per adapter the trainable `fourierft_spectrum`
 * [n_frequency]; the frequencies' locations (HF's `indices`, not saved) come from torch's randperm under
 * random_loc_seed (randperm.ts). delta_w [out, in] = real(ifft2(dense spectrum)) * scaling, computed by a
 * four-step transform in GEMMs (delta_op.ts, fast_dft.ts) or, where that costs more (few frequencies, a
 * prime width), as the product of two frozen bases (dft.ts); y = base(x) + x delta_w^T, also for Conv1D
 * (HF's forward uses F.linear(x, delta_w) whatever the layout; only merging transposes it into Conv1D's
 * [in, out] weight).
 * Initialisation as update_layer: spectrum ~ N(0, 1), zeros with init_weights (reset_fourier_parameters).
 */
import { Conv1D } from '../../../nn/layers/conv1d';
import type { Linear } from '../../../nn/layers/linear';
import { parameter } from '../../../nn/module';
import { noGrad } from '../../../tensor/autograd';
import { randn, zeros } from '../../../tensor/creation';
import { add, linear, matmul, mul, scale } from '../../../tensor/ops';
import { concat } from '../../../tensor/shape_ops';
import type { Tensor } from '../../../tensor/tensor';
import { AdapterLayerBase, ParameterDict } from '../adapter_layer';
import { fastDeltaCost, fourierDelta } from './delta_op';
import { fourierBases, TrigTable } from './dft';
import { rowDftPlan } from './fast_dft';
import { torchRandpermPrefix } from './randperm';

export interface FourierFTSpec {
  nFrequency: number;
  scaling: number;
  randomLocSeed: number;
  /** HF's indices[0] and indices[1]: the row (output) and column (input) of each frequency. */
  rows: Int32Array;
  cols: Int32Array;
}

/** How delta_w is computed: the four-step transform (delta_op.ts) or the product of the frozen bases (dft.ts). */
export type FourierDeltaPath = 'transform' | 'bases';

/**
 * The cost model's constants, in multiply-adds, calibrated on the native backend (2 cores): one of the
 * transform's N1 small steps (a slice, a GEMM, a strided copy) costs ~20 us beyond its flops, and an element
 * of the host-built arrays (the transform's spectrum rows, the bases' U and V) ~4 multiply-adds of GEMM
 * time. With them the transform is taken from ~200x64 layers with a few hundred frequencies up (about even
 * there, 2.6-5x faster forward + backward from 288x768 with 1000), the bases below (both ~1 ms there).
 */
const TRANSFORM_STEP_OVERHEAD = 3e5;
const HOST_ELEMENT_COST = 4;

export class FourierFTLinear extends AdapterLayerBase<FourierFTSpec> {
  readonly base_layer: Linear | Conv1D;
  readonly fourierft_spectrum: ParameterDict;
  private tables: { out: TrigTable; in: TrigTable } | null = null;

  constructor(base: Linear | Conv1D) {
    super();
    this.base_layer = this.registerModule('base_layer', base);
    this.fourierft_spectrum = this.registerModule('fourierft_spectrum', new ParameterDict());
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

  /** HF's update_layer: the checks on n_frequency, the locations, then the spectrum. */
  addAdapter(name: string, opts: { nFrequency: number; scaling: number; randomLocSeed: number; initWeights: boolean }, path = ''): void {
    if (this.specs.has(name)) throw new Error(`FourierFTLinear: adapter '${name}' already exists on this layer`);
    const { nFrequency: f } = opts, inF = this.inFeatures, out = this.outFeatures;
    const at = path ? ` (at '${path}')` : '';
    if (!Number.isInteger(f) || f <= 0) throw new RangeError(`FourierFT: n_frequency should be a positive integer value but the value passed is ${f}${at}`);
    if (f > inF * out)
      throw new RangeError(`FourierFT: n_frequency should be less than or equal to the product of the input and output dimensions but the value passed is ${f} and the product is ${inF * out}${at}`);
    const idx = torchRandpermPrefix(out * inF, opts.randomLocSeed, f);
    const rows = Int32Array.from(idx, (i) => Math.floor(i / inF));
    const cols = Int32Array.from(idx, (i) => i % inF);
    const spectrum = noGrad(() => (opts.initWeights ? zeros([f]) : randn([f])));
    this.fourierft_spectrum.set(name, parameter(spectrum));
    this.specs.set(name, { nFrequency: f, scaling: opts.scaling, randomLocSeed: opts.randomLocSeed, rows, cols });
  }

  protected disposeAdapter(name: string): void {
    this.fourierft_spectrum.get(name).dispose();
    this.fourierft_spectrum.set(name, null);
  }

  private bases(name: string): { u: Tensor; v: Tensor } {
    this.tables ??= { out: new TrigTable(this.outFeatures), in: new TrigTable(this.inFeatures) };
    const s = this.specs.get(name)!;
    return fourierBases(s.rows, s.cols, this.tables.out, this.tables.in);
  }

  /** [s; s]: the spectrum once for the cosine rows of U and V, once for the sine rows. */
  private doubled(name: string): Tensor {
    const s = this.fourierft_spectrum.get(name);
    return concat([s, s], 0);
  }

  /** Multiply-adds of building delta_w for f frequencies each way (forward only). */
  private deltaCosts(f: number): Record<FourierDeltaPath, number> {
    const out = this.outFeatures, inF = this.inFeatures, plan = rowDftPlan(out);
    return {
      transform: fastDeltaCost(plan, inF, f, false, HOST_ELEMENT_COST) + plan.n1 * TRANSFORM_STEP_OVERHEAD,
      bases: HOST_ELEMENT_COST * 2 * f * (out + inF) + 2 * f * out * inF,
    };
  }

  /** The cheaper way to build delta_w for an adapter of f frequencies on this layer. */
  deltaPath(f: number): FourierDeltaPath {
    const c = this.deltaCosts(f);
    return c.transform < c.bases ? 'transform' : 'bases';
  }

  /**
   * HF's get_delta_weight: real(ifft2(dense spectrum)) * scaling, [out, in], differentiable in the spectrum;
   * `path` (tests, benchmarks) overrides the choice of deltaPath.
   */
  deltaWeight(name: string, path: FourierDeltaPath = this.deltaPath(this.specs.get(name)!.nFrequency)): Tensor {
    const spec = this.specs.get(name)!;
    if (path === 'transform') {
      this.tables ??= { out: new TrigTable(this.outFeatures), in: new TrigTable(this.inFeatures) };
      return fourierDelta(this.fourierft_spectrum.get(name), spec, spec.scaling, rowDftPlan(this.outFeatures), this.tables.in);
    }
    const { u, v } = this.bases(name);
    const s2 = this.doubled(name), ut = u.T;
    const us = mul(ut, s2);                                          // U^T diag([s; s])   [out, 2F]
    const delta = matmul(us, v, { alpha: spec.scaling / (this.outFeatures * this.inFeatures) });
    // Outside the graph (merging, eval under noGrad) the temporaries go now; in it, autograd holds them.
    if (!delta.requiresGrad) [u, v, ut, s2, us].forEach((t) => t.dispose());
    return delta;
  }

  forward(x: Tensor): Tensor {
    if (this.disabled && this.merged.length > 0) throw new Error('FourierFTLinear: adapters are merged into the weights; unmerge() before disabling them');
    let y = this.base_layer.forward(x);
    if (this.disabled) return y;
    const inF = this.inFeatures, out = this.outFeatures;
    const tokens = x.size / inF;
    for (const n of this.active) {
      if (this.merged.includes(n)) continue;
      // x delta^T either through delta (HF's way: building it, then tokens * in * out) or as
      // ((x V^T) * [s; s]) U, which costs (tokens + 1) * (in + out) * 2F with the bases: the cheaper one (a
      // few generated tokens, say), the same sum either way.
      const spec = this.specs.get(n)!;
      const costs = this.deltaCosts(spec.nFrequency);
      if ((tokens + 1) * (inF + out) * 2 * spec.nFrequency < Math.min(costs.transform, costs.bases) + tokens * inF * out) {
        const { u, v } = this.bases(n);
        const h = mul(linear(x, v), this.doubled(n));                  // [..., 2F]
        y = add(y, linear(scale(h, spec.scaling / (out * inF)), u.T));
      } else {
        y = add(y, linear(x, this.deltaWeight(n)));
      }
    }
    return y;
  }

  /** The delta in the base weight's layout ([out, in], or [in, out] for Conv1D: HF's transpose(delta, fan_in_fan_out)). */
  private storedDelta(name: string): Tensor {
    return noGrad(() => {
      const d = this.deltaWeight(name);
      if (!this.fanInFanOut) return d;
      const t = d.T.contiguous();
      d.dispose();
      return t;
    });
  }

  merge(names: string[]): void {
    this.mergeDeltas(this.base_layer.weight, names, (n) => this.storedDelta(n));
  }

  unmerge(): void {
    this.unmergeDeltas(this.base_layer.weight, (n) => this.storedDelta(n));
  }
}
