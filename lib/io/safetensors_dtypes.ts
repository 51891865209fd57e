/**
 * The safetensors element types: their sizes, the typed array each reads into, widening to float32
 * and encoding host values for writing. Bytes are little-endian (checked by the callers).
 */
import { bytesOf } from './binary';
import { F8_E4M3_TABLE, F8_E5M2_TABLE, f16Lookup, f32ToBf16, f32ToF16 } from './half';

/** Every dtype read here, in Hugging Face's `Dtype` order (ascending alignment); writers sort by it. */
export const SAFETENSORS_DTYPES = ['BOOL', 'U8', 'I8', 'F8_E5M2', 'F8_E4M3', 'I16', 'U16', 'F16', 'BF16', 'I32', 'U32', 'F32', 'F64', 'I64', 'U64'] as const;
export type SafetensorsDtype = (typeof SAFETENSORS_DTYPES)[number];

export const DTYPE_SIZE: Readonly<Record<SafetensorsDtype, number>> = {
  BOOL: 1, U8: 1, I8: 1, F8_E5M2: 1, F8_E4M3: 1, I16: 2, U16: 2, F16: 2, BF16: 2, I32: 4, U32: 4, F32: 4, F64: 8, I64: 8, U64: 8,
};

export function isSafetensorsDtype(d: unknown): d is SafetensorsDtype {
  return typeof d === 'string' && (SAFETENSORS_DTYPES as readonly string[]).includes(d);
}

export function isFloatDtype(d: SafetensorsDtype): boolean {
  return d === 'F16' || d === 'BF16' || d === 'F32' || d === 'F64' || d === 'F8_E4M3' || d === 'F8_E5M2';
}

/** A dtype's values as JS holds them: floats narrower than F32 (and FP8) as their raw bit patterns. */
export type RawArray = Uint8Array | Int8Array | Int16Array | Uint16Array | Int32Array | Uint32Array
  | Float32Array | Float64Array | BigInt64Array | BigUint64Array;

/** A tensor kept in its file dtype: `data` is the dtype's typed array (see arrayFromBytes). */
export interface RawTensor {
  dtype: SafetensorsDtype;
  shape: number[];
  data: RawArray;
}

type ArrayCtor = { new (buffer: ArrayBufferLike, byteOffset: number, length: number): RawArray; readonly name: string };

const CTOR: Readonly<Record<SafetensorsDtype, ArrayCtor>> = {
  BOOL: Uint8Array, U8: Uint8Array, I8: Int8Array, F8_E5M2: Uint8Array, F8_E4M3: Uint8Array,
  I16: Int16Array, U16: Uint16Array, F16: Uint16Array, BF16: Uint16Array,
  I32: Int32Array, U32: Uint32Array, F32: Float32Array, F64: Float64Array, I64: BigInt64Array, U64: BigUint64Array,
};

/** The typed array over `bytes` (no copy; byteOffset must be a multiple of the element size). */
export function arrayFromBytes(dtype: SafetensorsDtype, bytes: Uint8Array): RawArray {
  return new CTOR[dtype](bytes.buffer, bytes.byteOffset, bytes.byteLength / DTYPE_SIZE[dtype]);
}

/** Writes the values in `bytes` as float32 into out[offset...]; integers convert exactly up to 2^24. */
export function widenToFloat32(dtype: SafetensorsDtype, bytes: Uint8Array, out: Float32Array, offset: number): void {
  const src = arrayFromBytes(dtype, bytes);
  const n = src.length;
  switch (dtype) {
    case 'F16': {
      const table = f16Lookup();
      const h = src as Uint16Array;
      for (let i = 0; i < n; i++) out[offset + i] = table[h[i]];
      return;
    }
    case 'BF16': {
      // bf16 bits are the top half of the float32 bits: write them straight into out's words.
      const words = new Uint32Array(out.buffer, out.byteOffset + offset * 4, n);
      const h = src as Uint16Array;
      for (let i = 0; i < n; i++) words[i] = h[i] << 16;
      return;
    }
    case 'F8_E4M3':
    case 'F8_E5M2': {
      const table = dtype === 'F8_E4M3' ? F8_E4M3_TABLE : F8_E5M2_TABLE;
      const b = src as Uint8Array;
      for (let i = 0; i < n; i++) out[offset + i] = table[b[i]];
      return;
    }
    case 'I64':
    case 'U64': {
      const b = src as BigInt64Array | BigUint64Array;
      for (let i = 0; i < n; i++) out[offset + i] = Number(b[i]);
      return;
    }
    default:
      out.set(src as Exclude<RawArray, BigInt64Array | BigUint64Array>, offset);
  }
}

const INT_RANGE: Partial<Record<SafetensorsDtype, [number, number]>> = {
  BOOL: [0, 1], U8: [0, 255], I8: [-128, 127], I16: [-32768, 32767], U16: [0, 65535],
  I32: [-2147483648, 2147483647], U32: [0, 4294967295],
};

/**
 * The little-endian bytes of `count` values of `dtype`, from: the dtype's own typed array (as
 * arrayFromBytes gives), a Uint8Array of the raw bytes, or plain values (numbers; bigints for 64-bit
 * integers) that are converted, rounding floats to nearest-even and checking integers fit.
 * Throws a TypeError/RangeError that says what was expected (the caller adds the tensor's name).
 */
export function encodeValues(dtype: SafetensorsDtype, data: unknown, count: number): Uint8Array {
  const size = DTYPE_SIZE[dtype];
  const ctor = CTOR[dtype];
  if (ArrayBuffer.isView(data) && (data as object).constructor === ctor) {
    const a = data as RawArray;
    if (a.length !== count) throw new RangeError(`${a.length} values do not fill the shape (${count} elements)`);
    return bytesOf(a);
  }
  if (data instanceof Uint8Array) {
    if (data.byteLength !== count * size)
      throw new RangeError(`${data.byteLength} raw bytes do not fill the shape (${count} elements of ${size} bytes)`);
    return data;
  }
  if (!(Array.isArray(data) || (ArrayBuffer.isView(data) && !(data instanceof DataView))))
    throw new TypeError(`data must be a ${ctor.name}, a Uint8Array of raw bytes or an array of values`);
  const values = data as ArrayLike<number | bigint>;
  if (values.length !== count) throw new RangeError(`${values.length} values do not fill the shape (${count} elements)`);
  const out = new Uint8Array(count * size);
  const view = arrayFromBytes(dtype, out);
  if (dtype === 'F8_E4M3' || dtype === 'F8_E5M2') throw new TypeError(`${dtype} is written from its raw bytes only (a Uint8Array)`);
  for (let i = 0; i < count; i++) {
    const v = values[i];
    if (dtype === 'I64' || dtype === 'U64') {
      if (typeof v !== 'bigint' && !Number.isSafeInteger(v)) throw new RangeError(`value ${String(v)} at index ${i} is not an integer`);
      const b = BigInt(v);
      const ok = dtype === 'I64' ? b >= -(2n ** 63n) && b < 2n ** 63n : b >= 0n && b < 2n ** 64n;
      if (!ok) throw new RangeError(`value ${b} at index ${i} does not fit ${dtype}`);
      (view as BigInt64Array | BigUint64Array)[i] = b;
      continue;
    }
    if (typeof v !== 'number') throw new TypeError(`value at index ${i} is a ${typeof v}, expected a number`);
    const range = INT_RANGE[dtype];
    if (range !== undefined && !(Number.isInteger(v) && v >= range[0] && v <= range[1]))
      throw new RangeError(`value ${v} at index ${i} does not fit ${dtype} (integers ${range[0]}..${range[1]})`);
    if (dtype === 'F16') (view as Uint16Array)[i] = f32ToF16(v);
    else if (dtype === 'BF16') (view as Uint16Array)[i] = f32ToBf16(v);
    else (view as Exclude<RawArray, BigInt64Array | BigUint64Array>)[i] = v;
  }
  return out;
}

/** float32 values -> the bytes of F32, F16 or BF16 (the formats a Tensor is saved in). */
export function narrowFloat32(dtype: 'F32' | 'F16' | 'BF16', values: Float32Array): Uint8Array {
  if (dtype === 'F32') return bytesOf(values);
  const out = new Uint16Array(values.length);
  const narrow = dtype === 'F16' ? f32ToF16 : f32ToBf16;
  for (let i = 0; i < values.length; i++) out[i] = narrow(values[i]);
  return bytesOf(out);
}
