/**
 * Narrow float formats <-> float32: IEEE half (F16), bfloat16 (BF16) and the two FP8 formats of
 * safetensors (F8_E4M3 "fn": no infinities, S.1111.111 is NaN; F8_E5M2: IEEE-like).
 * Narrowing rounds to nearest, ties to even, as PyTorch's .to(torch.float16 / bfloat16) does.
 */

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

function f16Value(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return sign * m * 2 ** -24;
  if (e === 31) return m ? NaN : sign * Infinity;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
}

// A table is the fastest widening in JS (one load per value); 256 KiB, built on first use.
let f16Table: Float32Array | null = null;
export function f16Lookup(): Float32Array {
  if (f16Table === null) {
    f16Table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) f16Table[h] = f16Value(h);
  }
  return f16Table;
}

export function f16ToF32(bits: number): number {
  return f16Lookup()[bits & 0xffff];
}

export function f32ToF16(v: number): number {
  f32[0] = v;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);  // inf stays inf, NaN stays a quiet NaN
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;  // too large: infinity
  if (e <= 0) {
    if (e < -10) return sign;  // below half the smallest subnormal: zero
    // Subnormal half: the value in units of 2^-24 is mant24 >> (14 - e), rounded to even.
    const m = mant | 0x800000;
    const shift = 14 - e;
    let q = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && (q & 1))) q++;
    return sign | q;  // q may reach 0x400, which is the smallest normal: still the right bits
  }
  let q = mant >>> 13;
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (q & 1))) q++;
  return sign | ((e << 10) + q);  // a mantissa carry bumps the exponent, up to infinity
}

export function bf16ToF32(bits: number): number {
  u32[0] = (bits & 0xffff) << 16;
  return f32[0];
}

export function f32ToBf16(v: number): number {
  f32[0] = v;
  const x = u32[0];
  if ((x & 0x7fffffff) > 0x7f800000) return ((x >>> 16) | 0x40) & 0xffff;  // NaN: keep it a (quiet) NaN
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

/** f32ToBf16 over a whole array, reading the float bits in place (no call per value): 200M values in ~1 s. */
export function f32ArrayToBf16(values: Float32Array): Uint16Array {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < bits.length; i++) {
    const x = bits[i];
    out[i] = (x & 0x7fffffff) > 0x7f800000 ? (x >>> 16) | 0x40 : (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
  }
  return out;
}

function buildF8(expBits: number, mantBits: number, bias: number, ieeeSpecials: boolean): Float32Array {
  const table = new Float32Array(256);
  const expMax = (1 << expBits) - 1;
  const mantMax = (1 << mantBits) - 1;
  for (let b = 0; b < 256; b++) {
    const sign = b & 0x80 ? -1 : 1;
    const e = (b >> mantBits) & expMax;
    const m = b & mantMax;
    let v: number;
    if (ieeeSpecials && e === expMax) v = m ? NaN : sign * Infinity;
    else if (!ieeeSpecials && e === expMax && m === mantMax) v = NaN;
    else if (e === 0) v = sign * (m / (1 << mantBits)) * 2 ** (1 - bias);
    else v = sign * (1 + m / (1 << mantBits)) * 2 ** (e - bias);
    table[b] = v;
  }
  return table;
}

/** F8_E4M3 ("e4m3fn", bias 7, max 448) byte -> value. */
export const F8_E4M3_TABLE = buildF8(4, 3, 7, false);
/** F8_E5M2 (bias 15, with infinities) byte -> value. */
export const F8_E5M2_TABLE = buildF8(5, 2, 15, true);
