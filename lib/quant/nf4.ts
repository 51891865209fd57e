/**
 * QLoRA's 4-bit NormalFloat (NF4) as bitsandbytes defines it: the row-major weight is cut into blocks of
 * `blockSize` consecutive values (64 by default); each block keeps its absmax (float32), each value is
 * divided by it and mapped to the nearest of the 16 NF4 code values (a value exactly between two codes takes
 * the lower one, as bitsandbytes' midpoint thresholds do; NaN takes code 0), and two codes share a byte, the
 * first value in the high nibble (an odd count pads with code 7, NF4's zero). Dequantized value =
 * code value * absmax, in float32. With `doubleQuant` the absmax values are themselves quantized
 * (bitsandbytes' compress_statistics): their mean is subtracted and the rest stored as 8-bit codes of the
 * signed dynamic map in blocks of 256 (dynamic_map.ts).
 */
import { type BlockwiseInt8, dequantizeBlockwise, forEachScaled, quantizeBlockwise } from './dynamic_map';

/** bitsandbytes' NF4 code values (csrc/kernels.cu nf4_dequantization_lut), code 0 to 15. */
export const NF4_CODES = Float32Array.from([
  -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635, -0.18477343022823334,
  -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
  0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
]);

/** The 15 decision thresholds: the float32 midpoints of neighbouring codes (bitsandbytes' dQuantizeNF4). */
const THRESHOLDS = Float32Array.from({ length: 15 }, (_, i) => (NF4_CODES[i] + NF4_CODES[i + 1]) / 2);

export const NF4_BLOCK_SIZES = [32, 64, 128, 256, 512, 1024, 2048, 4096] as const;

export interface Nf4Weight {
  readonly format: 'nf4';
  /** The weight's element count (its shape lives with the tensor that holds it). */
  readonly n: number;
  readonly blockSize: number;
  /** ceil(n / 2) bytes: two codes each, the first in the high nibble. */
  readonly codes: Uint8Array;
  /** Each block's absmax (float32), or its double-quantized form. */
  readonly absmax: Float32Array | DoubleQuantAbsmax;
}

/** bnb_4bit_use_double_quant: absmax = dynamic-map code * absmax2 + offset. */
export interface DoubleQuantAbsmax extends BlockwiseInt8 {
  readonly offset: number;
}

/** The nearest code of v (already divided by its block's absmax); ties go to the lower code. */
function nearestCode(v: number): number {
  let code = 0;
  while (code < 15 && v > THRESHOLDS[code]) code++;
  return code;
}

export function quantizeNf4(w: Float32Array, opts: { blockSize?: number; doubleQuant?: boolean } = {}): Nf4Weight {
  const blockSize = opts.blockSize ?? 64;
  if (!(NF4_BLOCK_SIZES as readonly number[]).includes(blockSize))
    throw new RangeError(`quantizeNf4: blockSize must be one of ${NF4_BLOCK_SIZES.join(', ')}, got ${blockSize}`);
  const n = w.length;
  const codes = new Uint8Array(Math.ceil(n / 2)).fill(0x77);  // the pad nibble of an odd count is code 7 (zero)
  const absmax = forEachScaled(w, blockSize, (i, scaled) => {
    const code = Number.isNaN(w[i]) ? 0 : nearestCode(scaled);
    const byte = i >> 1;
    codes[byte] = i % 2 === 0 ? (code << 4) | (codes[byte] & 0x0f) : (codes[byte] & 0xf0) | code;
  });
  if (!opts.doubleQuant) return { format: 'nf4', n, blockSize, codes, absmax };
  let sum = 0;
  for (const a of absmax) sum += a;
  const offset = Math.fround(sum / absmax.length);
  const centred = Float32Array.from(absmax, (a) => a - offset);
  return { format: 'nf4', n, blockSize, codes, absmax: { ...quantizeBlockwise(centred, 256), offset } };
}

/** Each block's absmax as float32 (undoing double quantization). */
export function nf4Absmax(q: Nf4Weight): Float32Array {
  if (q.absmax instanceof Float32Array) return q.absmax;
  const d = dequantizeBlockwise(q.absmax);
  const offset = q.absmax.offset;
  return d.map((v) => v + offset);
}

/** Values [start, end) of the weight in float32 (a panel, or the whole weight). */
export function dequantizeNf4(q: Nf4Weight, start = 0, end = q.n, out = new Float32Array(end - start)): Float32Array {
  const absmax = nf4Absmax(q);
  for (let i = start; i < end; i++) {
    const byte = q.codes[i >> 1];
    const code = i % 2 === 0 ? byte >> 4 : byte & 0x0f;
    out[i - start] = Math.fround(NF4_CODES[code] * absmax[Math.floor(i / q.blockSize)]);
  }
  return out;
}
