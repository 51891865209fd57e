/**
 * A frozen weight [N, K] stored in a low-precision format (lib/ops/dequantize/kernel.ts lists them): the
 * packed bytes and scales live in host memory, and the GEMMs dequantize one panel of rows at a time
 * (rows(r0, r1)), so no float32 copy of the whole weight exists after quantization.
 */
import { kernel } from '../tensor/kernel_lookup';
import { empty } from '../tensor/creation';
import { formatShape } from '../tensor/shape';
import { backendFor, type Tensor } from '../tensor/tensor';
import { f32ArrayToBf16, f32ToF16 } from '../io/half';
import { type DequantizeParams, type PackedWeight, WEIGHT_FORMATS, type WeightFormat } from '../ops/dequantize/kernel';
import { quantizeInt8 } from './int8';
import { quantizeNf4 } from './nf4';

export interface QuantizeOptions {
  /** int8: values per scale (default: one row, K); nf4: the block size (default 64). */
  groupSize?: number;
  /** nf4: quantize the absmax values too (bnb_4bit_use_double_quant). */
  doubleQuant?: boolean;
}

type Packed = Pick<DequantizeParams, 'data' | 'absmax' | 'nestedCodes' | 'nestedAbsmax' | 'offset' | 'group'>;

export class QuantizedTensor {
  private constructor(readonly format: WeightFormat, readonly shape: readonly [number, number], private readonly packed: Packed) {}

  /** Quantizes the float32 values of a [N, K] weight (a tensor or its values in row-major order). */
  static quantize(w: Tensor | Float32Array, shape: readonly [number, number], format: WeightFormat, opts: QuantizeOptions = {}): QuantizedTensor {
    const op = 'QuantizedTensor.quantize';
    if (!(WEIGHT_FORMATS as readonly string[]).includes(format)) throw new RangeError(`${op}: format must be one of ${WEIGHT_FORMATS.join(', ')}, got '${format}'`);
    const values = w instanceof Float32Array ? w : w.toFloat32Array();
    const [N, K] = shape;
    if (values.length !== N * K) throw new RangeError(`${op}: ${values.length} values do not fill ${formatShape([N, K])}`);
    const none = { absmax: null, nestedCodes: null, nestedAbsmax: null, offset: 0 };
    if (format === 'bfloat16' || format === 'float16') {
      const bits = format === 'bfloat16' ? f32ArrayToBf16(values) : Uint16Array.from(values, f32ToF16);
      return new QuantizedTensor(format, [N, K], { ...none, group: 1, data: new Uint8Array(bits.buffer) });
    }
    if (format === 'int8') {
      const q = quantizeInt8(values, opts.groupSize ?? K);
      return new QuantizedTensor(format, [N, K], { ...none, group: q.groupSize, data: new Uint8Array(q.q.buffer), absmax: q.absmax });
    }
    const q = quantizeNf4(values, { blockSize: opts.groupSize, doubleQuant: opts.doubleQuant });
    if (q.absmax instanceof Float32Array) return new QuantizedTensor(format, [N, K], { ...none, group: q.blockSize, data: q.codes, absmax: q.absmax });
    return new QuantizedTensor(format, [N, K], {
      group: q.blockSize, data: q.codes, absmax: null, nestedCodes: q.absmax.codes, nestedAbsmax: q.absmax.absmax, offset: q.absmax.offset,
    });
  }

  /**
   * An int8 weight from codes and per-group scales as llama2.c's version-2 files store them
   * (value = q * scale): absmax = scale * 127, so no float32 copy of the weight is made.
   */
  static fromInt8Scales(q: Int8Array, scales: Float32Array, shape: readonly [number, number], groupSize: number): QuantizedTensor {
    const [N, K] = shape;
    if (q.length !== N * K || scales.length * groupSize !== q.length)
      throw new RangeError(`QuantizedTensor.fromInt8Scales: ${q.length} codes and ${scales.length} scales of group ${groupSize} do not fill ${formatShape([N, K])}`);
    const absmax = Float32Array.from(scales, (s) => s * 127);
    return new QuantizedTensor('int8', [N, K], {
      group: groupSize, data: new Uint8Array(q.buffer, q.byteOffset, q.length), absmax, nestedCodes: null, nestedAbsmax: null, offset: 0,
    });
  }

  /**
   * An NF4 weight from bitsandbytes' storage as it is: the packed codes (two a byte, the first in the high
   * nibble) and one float32 absmax per block of `blockSize` consecutive values.
   */
  static fromNf4(codes: Uint8Array, absmax: Float32Array, shape: readonly [number, number], blockSize = 64): QuantizedTensor {
    const [N, K] = shape, n = N * K;
    if (!Number.isInteger(blockSize) || blockSize < 1) throw new RangeError(`QuantizedTensor.fromNf4: blockSize must be a positive integer, got ${blockSize}`);
    if (codes.length !== Math.ceil(n / 2) || absmax.length !== Math.ceil(n / blockSize))
      throw new RangeError(`QuantizedTensor.fromNf4: ${codes.length} code bytes and ${absmax.length} absmax values of block ${blockSize} do not fill ` +
        `${formatShape([N, K])} (expected ${Math.ceil(n / 2)} and ${Math.ceil(n / blockSize)})`);
    return new QuantizedTensor('nf4', [N, K], { group: blockSize, data: codes, absmax, nestedCodes: null, nestedAbsmax: null, offset: 0 });
  }

  /** A bfloat16 weight from its bits as stored (2 bytes a value, little-endian), kept as they are. */
  static fromBf16Bits(bits: Uint8Array, shape: readonly [number, number]): QuantizedTensor {
    const [N, K] = shape;
    if (bits.length !== 2 * N * K) throw new RangeError(`QuantizedTensor.fromBf16Bits: ${bits.length} bytes do not hold ${formatShape([N, K])} (expected ${2 * N * K})`);
    return new QuantizedTensor('bfloat16', [N, K], { group: 1, data: bits, absmax: null, nestedCodes: null, nestedAbsmax: null, offset: 0 });
  }

  get size(): number {
    return this.shape[0] * this.shape[1];
  }

  /** The bytes the packed weight and its scales hold. */
  get byteLength(): number {
    const p = this.packed;
    return p.data.byteLength + (p.absmax?.byteLength ?? 0) + (p.nestedCodes?.byteLength ?? 0) + (p.nestedAbsmax?.byteLength ?? 0);
  }

  /** A bfloat16 weight's bits as stored (2 bytes a value, little-endian), read in place by the bf16 GEMM; null for other formats. */
  get bf16Bits(): Uint8Array | null {
    return this.format === 'bfloat16' ? this.packed.data : null;
  }

  /** The packed weight as the kernels take it (dequantize's fields, gemmBf16's bQuant). */
  get packedWeight(): PackedWeight {
    return { ...this.packed, format: this.format, n: this.size };
  }

  /** Rows [r0, r1) as a float32 tensor [r1 - r0, K] on the active backend. */
  rows(r0: number, r1: number): Tensor {
    const [N, K] = this.shape;
    if (!(Number.isInteger(r0) && Number.isInteger(r1) && 0 <= r0 && r0 <= r1 && r1 <= N))
      throw new RangeError(`QuantizedTensor.rows: [${r0}, ${r1}) is not a range of the ${N} rows`);
    const out = empty([r1 - r0, K]);
    kernel(backendFor(out, 'dequantize'), 'dequantize', 'dequantize')({
      ...this.packedWeight, start: r0 * K, end: r1 * K, out: out.buf(),
    });
    return out;
  }

  /** The whole weight in float32 (merging, saving in another dtype): the one place a full copy is made. */
  dequantize(): Tensor {
    return this.rows(0, this.shape[0]);
  }
}
