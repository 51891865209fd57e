/**
 * LoftQ initialisation (init_lora_weights = 'loftq'), as HF peft 5d602fd's loftq_init
 * (src/peft/utils/loftq_utils.py) and LoraLayer.loftq_init (src/peft/tuners/lora/layer.py), on the host,
 * over the [out, in] weight W:
 *   res = W; repeat loftq_iter times: Q = dequant(quant(res)); L R = rank-r SVD of W - Q
 *   (L = U_r sqrt(S_r), R = sqrt(S_r) V_r^T); res = W - L R (not after the last step).
 *   lora_A = R [r, in], lora_B = L [out, r], and the base weight becomes Q, the dequantized weight, stored
 *   in the layer's float dtype (HF writes `base_layer.weight.data = qweight`, dequantized, into the float
 *   layer: LoftQ is meant for a model that is not quantized yet, and quantizing its base afterwards, as
 *   QLoRA loading does, gives back the same Q).
 * HF does not divide by the LoRA scaling: Q + B A approximates W, so the adapter's s B A does exactly when
 * s = 1 (lora_alpha = r, as HF's LoftQ examples set it).
 * The quantizers are the ones HF calls since peft 0.20 (its own NFQuantizer was removed):
 * - 4 bits: bitsandbytes' Params4bit(compress_statistics=False, quant_type='nf4'): NF4 in blocks of 64
 *   consecutive values of the row-major weight, float32 absmax, dequantize_4bit = code * absmax
 *   (peftjs's quantizeNf4 is that same format: lib/quant/nf4.ts);
 * - 8 bits: bitsandbytes' Int8Params: the weight cast to float16 first (Int8Params._quantize), then
 *   LLM.int8's row-wise absmax int8 (q = round-half-even(w * (127 / absmax))), and
 *   int8_vectorwise_dequant = q * absmax * 7.874015718698502e-3 (1 / 127) in float32.
 * The SVD is peftjs's float64 Jacobi SVD (svd.ts) where HF's runs in float32 on the GPU; its sign freedom
 * (a column of L and the row of R negated together) leaves B A unchanged.
 */
import { f16ToF32, f32ToF16 } from '../../../io/half';
import { quantizeInt8 } from '../../../quant/int8';
import { dequantizeNf4, quantizeNf4 } from '../../../quant/nf4';
import { type InitResult, matmulHost } from './init';
import type { LoftQConfig } from './loftq_config';
import { svd } from './svd';

/** bitsandbytes' Params4bit blocksize (64 on CUDA; 128 only on ROCm). */
const NF4_BLOCK = 64;
/** int8_vectorwise_dequant's 1 / 127, as the float32 the product is taken with. */
const INV_127 = Math.fround(7.874015718698502e-3);

/** quant then dequant of a row-major [out, in] float32 weight, as bitsandbytes does it for LoftQ. */
export function loftqQuantizeDequantize(w: Float32Array, out: number, inF: number, bits: number): Float32Array {
  if (w.length !== out * inF) throw new RangeError(`loftqQuantizeDequantize: ${w.length} values do not fill [${out}, ${inF}]`);
  if (bits === 4) return dequantizeNf4(quantizeNf4(w, { blockSize: NF4_BLOCK }));
  if (bits !== 8) throw new RangeError(`loftqQuantizeDequantize: bits must be 4 or 8, got ${bits}`);
  const half = Float32Array.from(w, (v) => f16ToF32(f32ToF16(v)));
  const q = quantizeInt8(half, inF);
  const deq = new Float32Array(w.length);
  for (let i = 0; i < w.length; i++) deq[i] = Math.fround(Math.fround(q.q[i] * q.absmax[Math.floor(i / inF)]) * INV_127);
  return deq;
}

/** HF's _low_rank_decomposition: L = U[:, :r] sqrt(S[:r]) [out, r], R = sqrt(S[:r]) Vh[:r] [r, in]. */
export function lowRankDecomposition(res: Float64Array, out: number, inF: number, r: number): { l: Float64Array; r: Float64Array } {
  const d = svd(res, out, inF);
  const l = new Float64Array(out * r), rm = new Float64Array(r * inF);
  for (let j = 0; j < r; j++) {
    const g = Math.sqrt(d.s[j]);
    for (let i = 0; i < out; i++) l[i * r + j] = d.u[i * d.k + j] * g;
    for (let c = 0; c < inF; c++) rm[j * inF + c] = g * d.vt[j * inF + c];
  }
  return { l, r: rm };
}

/** HF's loftq_init over W [out, in] (float32 values): A = R, B = L, the base weight becomes the dequantized Q. */
export function loftqInit(w: Float64Array, out: number, inF: number, r: number, config: LoftQConfig): InitResult {
  if (r > Math.min(out, inF)) throw new RangeError(`initLoraWeights 'loftq': r = ${r} exceeds min(out, in) = ${Math.min(out, inF)} of the layer`);
  config.validate();
  let res: Float32Array = Float32Array.from(w);
  let q: Float32Array = res;
  let lr: { l: Float64Array; r: Float64Array } = { l: new Float64Array(0), r: new Float64Array(0) };
  for (let i = 0; i < config.loftqIter; i++) {
    q = loftqQuantizeDequantize(res, out, inF, config.loftqBits);
    lr = lowRankDecomposition(w.map((v, k) => v - q[k]), out, inF, r);
    if (i + 1 === config.loftqIter) break;  // HF: "don't prepare the residual if we're at the end"
    const approx = matmulHost(lr.l, lr.r, out, r, inF);
    res = Float32Array.from(w, (v, k) => v - approx[k]);
  }
  return { a: lr.r, b: lr.l, residual: Float64Array.from(q) };
}
