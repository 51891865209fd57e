/**
 * OFTLinear: a Linear with OFT adapters, HF's oft.Linear and OFTRotationModule (src/peft/tuners/oft/layer.py
 * at 5d602fd). Per adapter `oft_R.<name>.weight` [r, bs (bs - 1) / 2] ([1, ...] with block_share) holds
 * each block's skew-symmetric Q by its strict upper triangle; R_b = Cayley(Q_b) (Neumann series by
 * default, exact with use_cayley_neumann false) and the INPUT is rotated block by block before the base
 * layer: y = base(x blockdiag(R)) (OFTRotationModule.forward's einsum '...rk,rkc->...rc'). Merging folds the
 * rotation into the weight as HF: W <- (blockdiag(R) W^T)^T = W blockdiag(R)^T; unmerging multiplies by the
 * inverse (HF's torch.linalg.inv; the Neumann R is only nearly orthogonal, so not the transpose).
 * coft projects each block's Q into a Frobenius ball of radius eps / sqrt(blocks) before use, writing the
 * projected values back into the parameter, as HF does in forward and get_weight. init_weights true
 * starts at zero (R = I, the identity); false draws N(0, 0.1). HF builds a MultiplicativeDropoutLayer for
 * module_dropout but its forward never calls it, so module_dropout has no effect here either.
 */
import type { Linear } from '../../../nn/layers/linear';
import { needsFloatBase, QuantizedLinear } from '../../../quant/quantized_linear';
import { copyInto, Module, parameter } from '../../../nn/module';
import { noGrad } from '../../../tensor/autograd';
import { fromArray, randn, zeros } from '../../../tensor/creation';
import type { Tensor } from '../../../tensor/tensor';
import { AdapterDict, AdapterLayerBase, getBaseLayer } from '../adapter_layer';
import { batchedInverse, bmm, cayleyExact, cayleyNeumann, skewFromUpper } from './cayley';
import type { OFTConfig } from './config';
import { warn } from './common';

export interface OFTSpec {
  /** Blocks per layer (in_features / blockSize). */
  r: number;
  blockSize: number;
  blockShare: boolean;
  coft: boolean;
  eps: number;
  useCayleyNeumann: boolean;
  numCayleyNeumannTerms: number;
  moduleDropout: number;
}

/** HF's OFTRotationModule as a parameter holder: `weight` [r or 1, bs (bs - 1) / 2]. */
export class OFTRotation extends Module {
  readonly weight: Tensor;
  constructor(weight: Tensor) {
    super();
    this.weight = weight;
    this.registerParameter('weight', weight);
  }
}

/** OFTLayer.adjust_oft_parameters: the divisor of in_features nearest to `params` (the lower one on ties). */
export function adjustOftParameters(inFeatures: number, params: number): number {
  let higher = params;
  if (params < inFeatures) {
    while (higher <= inFeatures && inFeatures % higher !== 0) higher++;
  } else return inFeatures;
  let lower = params;
  while (lower > 1 && inFeatures % lower !== 0) lower--;
  return params - lower <= higher - params ? lower : higher;
}

/** OFTLayer.update_layer's resolution of (r, oft_block_size) for one layer, with HF's warnings. */
export function resolveBlocks(inFeatures: number, r: number, blockSize: number): { r: number; blockSize: number } {
  if (r === 0 && blockSize !== 0) {
    if (inFeatures % blockSize !== 0 || blockSize > inFeatures) {
      const old = blockSize;
      blockSize = adjustOftParameters(inFeatures, blockSize);
      warn(`Invalid \`oft_block_size\` (${old})! Adjusted \`oft_block_size\` to (${blockSize}).`);
    }
    return { r: Math.floor(inFeatures / blockSize), blockSize };
  }
  if (r !== 0 && blockSize === 0) {
    if (inFeatures % r !== 0 || r > inFeatures) {
      const old = r;
      r = adjustOftParameters(inFeatures, r);
      warn(`Invalid \`r\` (${old})! Adjusted \`r\` to (${r}).`);
    }
    return { r, blockSize: Math.floor(inFeatures / r) };
  }
  throw new RangeError(`OFTConfig: exactly one of r (${r}) and oftBlockSize (${blockSize}) must be non-zero`);
}

export class OFTLinear extends AdapterLayerBase<OFTSpec> {
  /**
   * The wrapped Linear (or QuantizedLinear: the input's rotation runs before the base's own GEMM, as HF's
   * oft/bnb.py layers; merging needs a float32 weight). In a mixed model (PeftMixedModel) it can be another
   * method's adapter layer around it instead (HF nests them), which runs as the Linear would; `base` is the
   * Linear either way.
   */
  readonly base_layer: Linear | QuantizedLinear;
  readonly oft_R: AdapterDict<OFTRotation>;

  constructor(base: Linear | QuantizedLinear) {
    super();
    this.base_layer = this.registerModule('base_layer', base);
    this.oft_R = this.registerModule('oft_R', new AdapterDict<OFTRotation>());
  }

  /** HF's get_base_layer(): the Linear under any nested adapter layers; merging rotates its weight. */
  get base(): Linear | QuantizedLinear {
    return getBaseLayer(this.base_layer) as Linear | QuantizedLinear;
  }

  get inFeatures(): number {
    return this.base.inFeatures;
  }
  get outFeatures(): number {
    return this.base.outFeatures;
  }

  addAdapter(name: string, config: OFTConfig): void {
    if (this.specs.has(name)) throw new Error(`OFTLinear: adapter '${name}' already exists on this layer`);
    const { r, blockSize } = resolveBlocks(this.inFeatures, config.r, config.oftBlockSize);
    const rows = config.blockShare ? 1 : r;
    const n = (blockSize * (blockSize - 1)) / 2;
    // reset_oft_parameters: zeros (the identity) or, with init_weights false, N(0, 0.1).
    const w = noGrad(() => (config.initWeights ? zeros([rows, n]) : randn([rows, n], { std: 0.1 })));
    this.oft_R.registerModule(name, new OFTRotation(parameter(w)));
    this.specs.set(name, {
      r, blockSize, blockShare: config.blockShare, coft: config.coft, eps: config.eps,
      useCayleyNeumann: config.useCayleyNeumann, numCayleyNeumannTerms: config.numCayleyNeumannTerms, moduleDropout: config.moduleDropout,
    });
  }

  protected disposeAdapter(name: string): void {
    this.oft_R.get(name).weight.dispose();
    this.oft_R.registerModule(name, null);
  }

  /** The per-block rotations [r, bs, bs] ([1, bs, bs] with block_share), differentiable in oft_R. */
  rotation(name: string): Tensor {
    const s = this.specs.get(name)!;
    const weight = this.oft_R.get(name).weight;
    if (s.coft) projectInPlace(weight, s.eps);
    const q = skewFromUpper(weight, s.blockSize);
    const rot = s.useCayleyNeumann ? cayleyNeumann(q, s.numCayleyNeumannTerms) : cayleyExact(q);
    if (rot !== q) q.dispose();
    return rot;
  }

  /** x [..., in] -> x blockdiag(R): each block of bs input features times its R_b. */
  private rotate(x: Tensor, name: string): Tensor {
    const { r, blockSize } = this.specs.get(name)!;
    const lead = x.shape.slice(0, -1);
    const rows = lead.reduce((a, b) => a * b, 1);
    const rot = this.rotation(name);
    const xb = x.reshape([rows, r, blockSize]);
    const perBlock = xb.permute([1, 0, 2]);
    const y = bmm(perBlock, rot);
    const back = y.permute([1, 0, 2]);
    const out = back.reshape([...lead, r * blockSize]);
    for (const t of [rot, xb, perBlock, y, back]) t.dispose();
    return out;
  }

  forward(x: Tensor): Tensor {
    if (this.disabled && this.merged.length > 0) throw new Error('OFTLinear: adapters are merged into the weights; unmerge() before disabling them');
    if (this.disabled) return this.base_layer.forward(x);
    let h = x;
    for (const n of this.active) {
      if (this.merged.includes(n)) continue;
      const next = this.rotate(h, n);
      if (h !== x) h.dispose();
      h = next;
    }
    const y = this.base_layer.forward(h);
    if (h !== x) h.dispose();
    return y;
  }

  /** W [out, in] -> W blockdiag(m)^T for blocks m [r or 1, bs, bs] (the weight's input axis in blocks). */
  private foldBlocks(name: string, blocks: Tensor): void {
    const { r, blockSize } = this.specs.get(name)!;
    const base = this.base;
    if (base instanceof QuantizedLinear) throw needsFloatBase('OFTLinear', 'merging', base);
    noGrad(() => {
      const w = base.weight;
      const out = this.outFeatures;
      const wb = w.reshape([out, r, blockSize]);
      const perBlock = wb.permute([1, 0, 2]);
      const y = bmm(perBlock, blocks.transpose(1, 2));
      const back = y.permute([1, 0, 2]);
      const next = back.reshape([out, r * blockSize]);
      copyInto(w, next);
      for (const t of [wb, perBlock, y, back, next]) t.dispose();
    });
  }

  merge(names: string[]): void {
    for (const n of names) {
      if (this.merged.includes(n) || !this.specs.has(n)) continue;
      const rot = noGrad(() => this.rotation(n));
      this.foldBlocks(n, rot);
      rot.dispose();
      this.merged.push(n);
    }
  }

  unmerge(): void {
    while (this.merged.length > 0) {
      const n = this.merged.pop()!;
      const rot = noGrad(() => this.rotation(n));
      const inv = batchedInverse(rot, `OFTLinear unmerge of '${n}'`);
      this.foldBlocks(n, inv);
      rot.dispose();
      inv.dispose();
    }
  }
}

/**
 * OFTRotationModule._project_batch (coft), written into the parameter as HF's `self.weight.copy_`: each
 * block's skew matrix Q (Frobenius norm sqrt(2) |vec|) is kept when its norm is within eps / sqrt(blocks),
 * else scaled onto that sphere. HF computes in float32; so does this, step for step.
 */
export function projectInPlace(weight: Tensor, eps: number): void {
  const f = Math.fround;
  const [rows, n] = weight.shape;
  const v = weight.toFloat32Array();
  // eps * 1 / torch.sqrt(torch.tensor(rows)): Python's float / tensor is tensor.reciprocal() * float.
  const radius = f(f(1 / f(Math.sqrt(rows))) * eps);
  let changed = false;
  for (let b = 0; b < rows; b++) {
    let sq = 0;
    for (let k = 0; k < n; k++) sq += v[b * n + k] * v[b * n + k];
    const norm = f(Math.sqrt(2 * sq));
    if (norm <= radius) continue;
    changed = true;
    for (let k = 0; k < n; k++) v[b * n + k] = f(radius * f(v[b * n + k] / norm));
  }
  if (changed) noGrad(() => {
    const t = fromArray(v, [rows, n]);
    copyInto(weight, t);
    t.dispose();
  });
}
