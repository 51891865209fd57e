/**
 * BOFTLinear: a Linear with BOFT adapters, HF's boft.Linear (src/peft/tuners/boft/layer.py at 5d602fd).
 * Per adapter `boft_R.<name>` [N, D, H, H] (N butterfly factors of D blocks of size H) and `boft_s.<name>`
 * [out, 1]. Each block is turned orthogonal by the exact Cayley map of its skew part,
 * R = cayley_batch(0.5 (B - B^T)) = (I - S)(I + S)^-1; factor i is M_i = P_i blockdiag(R_i) P_i^T with HF's
 * butterfly permutation P_i (butterfly.ts), and the rotation is M_{N-1} ... M_0. Forward as HF's:
 *   y = (base(x M_{N-1} ... M_0) - b) * s + b
 * (applied factor by factor on x instead of building the dense [in, in] matrix HF multiplies by; the same
 * product). Merging: W <- (rotation W^T)^T * s; unmerging: W <- (rotation^T W^T)^T * (1 / s) (the rotation
 * is exactly orthogonal, so HF unmerges with its transpose). Training with boft_dropout: HF's
 * MultiplicativeDropoutLayer, int(p D) random blocks of one random factor become the identity.
 *
 * HF on a machine where its CUDA extension (fbd_cuda) does not build sets boft_n_butterfly_factor to 1
 * whatever the config says (and its CPU block_diag path only handles one factor). peftjs implements
 * the factors as HF's CUDA path does on every backend, so an adapter with N > 1 behaves as HF on a GPU.
 */
import type { Linear } from '../../../nn/layers/linear';
import { copyInto, parameter } from '../../../nn/module';
import { noGrad } from '../../../tensor/autograd';
import { fromArray, ones, rand, randn, zeros } from '../../../tensor/creation';
import { add, mul, scale, sub } from '../../../tensor/ops';
import type { Tensor } from '../../../tensor/tensor';
import { AdapterLayerBase, ParameterDict } from '../adapter_layer';
import { bmm, cayleyExact } from '../oft/cayley';
import type { BOFTConfig } from './config';
import { type ButterflyPerm, butterflyPerm, gatherPerm, scatterPerm } from './butterfly';

export interface BOFTSpec {
  /** H: each block's size. */
  blockSize: number;
  /** D: blocks per factor. */
  blockNum: number;
  /** N: butterfly factors. */
  factors: number;
  perms: ButterflyPerm[];
  dropout: number;
}

/** BOFTLayer.update_layer's checks and resolution of (block size, block count), with HF's messages. */
export function resolveBoftBlocks(inFeatures: number, config: BOFTConfig, at: string): { blockSize: number; blockNum: number } {
  let size = config.boftBlockSize, num = config.boftBlockNum;
  const f = config.boftNButterflyFactor;
  const nbf = f - 1;
  const fail = (msg: string) => new RangeError(`BOFT: at '${at}': ${msg}`);
  if (size === 0 && num !== 0) {
    if (inFeatures % num !== 0) throw fail(`in_features (${inFeatures}) must be divisible by boft_block_num (${num})!`);
    if (nbf !== 0) {
      if (nbf > Math.trunc(Math.log2(num))) throw fail(`Invalid combination of boft_n_butterfly_factor (${f}) and boft_block_num (${num})!`);
      if (num % 2 ** nbf !== 0) throw fail(`boft_block_num (${num}) must be a multiple of 2 raised to the power of boft_n_butterfly_factor (${f})!`);
    }
    size = Math.trunc(inFeatures / num);
  } else if (size !== 0 && num === 0) {
    if (inFeatures % size !== 0) throw fail(`in_features (${inFeatures}) must be divisible by boft_block_size (${size})!`);
    if (nbf !== 0 && (inFeatures < size * 2 ** nbf || inFeatures % (size * 2 ** nbf) !== 0))
      throw fail(`Invalid combination of in_features (${inFeatures}), boft_n_butterfly_factor (${f}) and boft_block_size (${size})!`);
    num = Math.trunc(inFeatures / size);
  } else {
    throw fail(`exactly one of boft_block_size (${size}) and boft_block_num (${num}) must be non-zero`);
  }
  if (nbf !== 0) {
    if (num % 2 !== 0) throw fail(`boft_block_num (${num}) must be an even number!`);
    if (size % 2 !== 0) throw fail(`boft_block_size (${size}) must be an even number!`);
  }
  return { blockSize: size, blockNum: num };
}

export class BOFTLinear extends AdapterLayerBase<BOFTSpec> {
  readonly base_layer: Linear;
  readonly boft_R: ParameterDict;
  readonly boft_s: ParameterDict;

  constructor(base: Linear) {
    super();
    this.base_layer = this.registerModule('base_layer', base);
    this.boft_R = this.registerModule('boft_R', new ParameterDict());
    this.boft_s = this.registerModule('boft_s', new ParameterDict());
  }

  get inFeatures(): number {
    return this.base_layer.inFeatures;
  }
  get outFeatures(): number {
    return this.base_layer.outFeatures;
  }

  addAdapter(name: string, config: BOFTConfig, at: string): void {
    if (this.specs.has(name)) throw new Error(`BOFTLinear: adapter '${name}' already exists on this layer`);
    const { blockSize, blockNum } = resolveBoftBlocks(this.inFeatures, config, at);
    const factors = config.boftNButterflyFactor;
    const perms = Array.from({ length: factors }, (_, i) => butterflyPerm(this.inFeatures, blockNum, blockSize, factors - 1, i));
    const shape = [factors, blockNum, blockSize, blockSize];
    // reset_boft_parameters: zeros and ones (the identity), or N(0, 0.1) and N(1, 0.1).
    const [r, s] = noGrad(() => (config.initWeights
      ? [zeros(shape), ones([this.outFeatures, 1])]
      : [randn(shape, { std: 0.1 }), randn([this.outFeatures, 1], { mean: 1, std: 0.1 })]));
    this.boft_R.set(name, parameter(r));
    this.boft_s.set(name, parameter(s));
    this.specs.set(name, { blockSize, blockNum, factors, perms, dropout: config.boftDropout });
  }

  protected disposeAdapter(name: string): void {
    for (const d of [this.boft_R, this.boft_s]) {
      d.get(name).dispose();
      d.set(name, null);
    }
  }

  /** Every factor's orthogonal blocks [N D, H, H]: cayley_batch of boft_R, then (training) the dropout. */
  private blocks(name: string): Tensor {
    const { blockSize: h, blockNum: d, factors: n, dropout } = this.specs.get(name)!;
    const data = this.boft_R.get(name).reshape([n * d, h, h]);
    const diff = sub(data, data.transpose(1, 2));
    const skew = scale(diff, 0.5);
    const rot = cayleyExact(skew);
    for (const t of [data, diff, skew]) t.dispose();
    if (!this.training || dropout <= 0) return rot;
    const dropped = multiplicativeDropout(rot, n, d, h, dropout);
    rot.dispose();
    return dropped;
  }

  /** x [rows, in] times M_i (or M_i^T with `transposed`) for i in `order`: x P_i blockdiag(R_i) P_i^T. */
  private applyFactors(x: Tensor, name: string, blocks: Tensor, order: number[], transposed: boolean): Tensor {
    const { blockSize: h, blockNum: d, perms } = this.specs.get(name)!;
    const rows = x.shape[0];
    let cur = x;
    for (const i of order) {
      const xp = scatterPerm(cur, perms[i]);
      const xv = xp.reshape([rows, d, h]);
      const per = xv.permute([1, 0, 2]);
      const factor = blocks.slice(0, i * d, (i + 1) * d);
      const rb = transposed ? factor.transpose(1, 2) : factor;
      const y = bmm(per, rb);
      const back = y.permute([1, 0, 2]);
      const flat = back.reshape([rows, d * h]);
      const next = gatherPerm(flat, perms[i]);
      for (const t of [xp, xv, per, factor, y, back, flat]) t.dispose();
      if (rb !== factor) rb.dispose();
      if (cur !== x) cur.dispose();
      cur = next;
    }
    return cur;
  }

  forward(x: Tensor): Tensor {
    if (this.disabled && this.merged.length > 0) throw new Error('BOFTLinear: adapters are merged into the weights; unmerge() before disabling them');
    const running = this.disabled ? [] : this.active.filter((n) => !this.merged.includes(n));
    if (running.length === 0) return this.base_layer.forward(x);
    const lead = x.shape.slice(0, -1);
    const rows = lead.reduce((a, b) => a * b, 1);
    const x2 = x.reshape([rows, this.inFeatures]);
    // HF: rotation = B_last ... B_first, x @ rotation; each B = M_{N-1} ... M_0.
    let h = x2;
    for (const n of [...running].reverse()) {
      const blocks = this.blocks(n);
      const order = Array.from({ length: this.specs.get(n)!.factors }, (_, i) => i).reverse();
      const next = this.applyFactors(h, n, blocks, order, false);
      blocks.dispose();
      if (h !== x2) h.dispose();
      h = next;
    }
    const xr = h.reshape([...lead, this.inFeatures]);
    let y = this.base_layer.forward(xr);
    for (const t of [x2, h, xr]) if (t !== x) t.dispose();
    const bias = this.base_layer.bias;
    const step = (t: Tensor) => {
      const old = y;
      y = t;
      old.dispose();
    };
    if (bias) step(sub(y, bias));
    // boft_scale = product of the running adapters' boft_s, one value per output feature.
    for (const n of running) {
      const s = this.boft_s.get(n);
      const row = s.reshape([this.outFeatures]);
      step(mul(y, row));
      row.dispose();
    }
    if (bias) step(add(y, bias));
    return y;
  }

  merge(names: string[]): void {
    for (const n of names) {
      if (this.merged.includes(n) || !this.specs.has(n)) continue;
      noGrad(() => {
        const blocks = this.blocks(n);
        const w = this.base_layer.weight;
        // W rotation^T = W M_0^T M_1^T ... M_{N-1}^T, then each row o times s[o].
        const order = Array.from({ length: this.specs.get(n)!.factors }, (_, i) => i);
        const rotated = this.applyFactors(w, n, blocks, order, true);
        this.writeRowScaled(rotated, this.boft_s.get(n).toFloat32Array());
        for (const t of [blocks, rotated]) t.dispose();
      });
      this.merged.push(n);
    }
  }

  unmerge(): void {
    while (this.merged.length > 0) {
      const n = this.merged.pop()!;
      noGrad(() => {
        const blocks = this.blocks(n);
        const w = this.base_layer.weight;
        const order = Array.from({ length: this.specs.get(n)!.factors }, (_, i) => i).reverse();
        const rotated = this.applyFactors(w, n, blocks, order, false);
        // HF: orig_weight * (1 / boft_s)
        this.writeRowScaled(rotated, this.boft_s.get(n).toFloat32Array().map((v) => 1 / v));
        for (const t of [blocks, rotated]) t.dispose();
      });
    }
  }

  /** weight <- m with row o times factors[o] (float32 products, as HF's broadcast multiply). */
  private writeRowScaled(m: Tensor, factors: Float32Array): void {
    const [out, inF] = m.shape;
    const v = m.toFloat32Array();
    for (let o = 0; o < out; o++) for (let i = 0; i < inF; i++) v[o * inF + i] = Math.fround(v[o * inF + i] * factors[o]);
    const t = fromArray(v, [out, inF]);
    copyInto(this.base_layer.weight, t);
    t.dispose();
  }
}

/**
 * HF's MultiplicativeDropoutLayer (training): one random factor n; int(p D) of its D blocks, chosen by a
 * random permutation, are replaced by the identity. blocks [N D, H, H] stays differentiable elsewhere.
 */
function multiplicativeDropout(blocks: Tensor, n: number, d: number, h: number, p: number): Tensor {
  const replace = Math.trunc(p * d);
  if (replace === 0) return blocks.reshape(blocks.shape);
  const u = noGrad(() => rand([1 + d]));
  const draws = u.toFloat32Array();
  u.dispose();
  const pick = Math.min(n - 1, Math.floor(draws[0] * n));
  const order = Array.from({ length: d }, (_, i) => i).sort((a, b) => draws[1 + a] - draws[1 + b]);
  const keep = new Float32Array(n * d).fill(1);
  const eyes = new Float32Array(n * d * h * h);
  for (let k = 0; k < replace; k++) {
    const blk = pick * d + order[k];
    keep[blk] = 0;
    for (let i = 0; i < h; i++) eyes[blk * h * h + i * h + i] = 1;
  }
  const [keepRow, eyeT] = noGrad(() => [fromArray(keep, [n * d]), fromArray(eyes, [n * d, h, h])]);
  // (1 - mask) x + mask I, with the per-block mask as a row over the [H H, N D] transpose.
  const flat = blocks.reshape([n * d, h * h]);
  const cols = flat.transpose(0, 1);
  const kept = mul(cols, keepRow);
  const back = kept.transpose(0, 1);
  const shaped = back.reshape([n * d, h, h]);
  const out = add(shaped, eyeT);
  for (const t of [keepRow, eyeT, flat, cols, kept, back, shaped]) t.dispose();
  return out;
}
