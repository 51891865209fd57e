/** Narrow float conversions: exhaustive for F16, and the rounding cases that matter for BF16 and F16. */
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from '../../lib/io';
import { F8_E4M3_TABLE, F8_E5M2_TABLE } from '../../lib/io/half';

test('every F16 bit pattern widens and narrows back to itself (NaNs stay NaN)', () => {
  for (let h = 0; h < 65536; h++) {
    const v = f16ToF32(h);
    const back = f32ToF16(v);
    if (Number.isNaN(v)) {
      expect((h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0).toBe(true);
      expect(Number.isNaN(f16ToF32(back))).toBe(true);
    } else if (back !== h) {
      throw new Error(`0x${h.toString(16)} -> ${v} -> 0x${back.toString(16)}`);
    }
  }
});

test('F16 narrowing rounds to nearest, ties to even, and saturates to infinity', () => {
  expect(f32ToF16(1 + 2 ** -11)).toBe(0x3c00);               // tie between 1 and 1+2^-10: even (1)
  expect(f32ToF16(1 + 3 * 2 ** -11)).toBe(0x3c02);           // tie: rounds up to the even mantissa
  expect(f32ToF16(1 + 2 ** -11 + 2 ** -20)).toBe(0x3c01);    // just above the tie
  expect(f32ToF16(65519)).toBe(0x7bff);                      // below the midpoint to 65536
  expect(f32ToF16(65520)).toBe(0x7c00);                      // the midpoint rounds to even = infinity
  expect(f32ToF16(2 ** -25)).toBe(0);                        // half the smallest subnormal: ties to 0
  expect(f32ToF16(2 ** -25 * 1.0001)).toBe(1);
  expect(f32ToF16(3 * 2 ** -25)).toBe(2);                    // 1.5 subnormal units: ties to 2
  expect(f32ToF16(2 ** -14 - 2 ** -25)).toBe(0x0400);        // rounds up into the smallest normal
  expect(f32ToF16(-0)).toBe(0x8000);
  expect(f32ToF16(-Infinity)).toBe(0xfc00);
});

test('BF16 keeps the top 16 bits, rounding to nearest even; NaN stays NaN', () => {
  expect(f32ToBf16(1)).toBe(0x3f80);
  expect(bf16ToF32(0x3f80)).toBe(1);
  expect(f32ToBf16(1 + 2 ** -8)).toBe(0x3f80);               // tie: even
  expect(f32ToBf16(1 + 3 * 2 ** -8)).toBe(0x3f82);           // tie: up to even
  expect(f32ToBf16(3.4028234663852886e38)).toBe(0x7f80);     // max float rounds to infinity
  expect(Number.isNaN(bf16ToF32(f32ToBf16(NaN)))).toBe(true);
  for (let h = 0; h < 65536; h += 7) {
    const v = bf16ToF32(h);
    if (!Number.isNaN(v)) expect(f32ToBf16(v)).toBe(h);
  }
});

test('FP8 tables: E4M3 has no infinities (max 448), E5M2 does', () => {
  expect(F8_E4M3_TABLE[0x38]).toBe(1);
  expect(F8_E4M3_TABLE[0x7e]).toBe(448);
  expect(Number.isNaN(F8_E4M3_TABLE[0x7f])).toBe(true);
  expect(F8_E4M3_TABLE[0x01]).toBe(2 ** -9);
  expect(F8_E5M2_TABLE[0x3c]).toBe(1);
  expect(F8_E5M2_TABLE[0x7b]).toBe(57344);
  expect(F8_E5M2_TABLE[0x7c]).toBe(Infinity);
  expect(Number.isNaN(F8_E5M2_TABLE[0x7d])).toBe(true);
  expect(F8_E5M2_TABLE[0x01]).toBe(2 ** -16);
});
