/**
 * The low-bit weight formats against what bitsandbytes and PyTorch make of the same weights
 * (test/fixtures/quant/quant.json, made by make_quant_fixture.py): NF4 codes, absmax and dequantized values
 * bit for bit, with and without double quantization; the dynamic map; int8 per row and per group; bf16 bits.
 */
import * as fs from 'fs';
import * as path from 'path';
import { bf16ToF32, f32ArrayToBf16, f32ToBf16 } from '../../lib/io/half';
import { DYNAMIC_MAP } from '../../lib/quant/dynamic_map';
import { dequantizeInt8, quantizeInt8 } from '../../lib/quant/int8';
import { dequantizeNf4, NF4_CODES, nf4Absmax, quantizeNf4 } from '../../lib/quant/nf4';

const FIXTURE = JSON.parse(fs.readFileSync(path.join(__dirname, '../fixtures/quant/quant.json'), 'utf8'));
const f32 = (b64: string) => { const b = Buffer.from(b64, 'base64'); return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length)); };
const u8 = (b64: string) => new Uint8Array(Buffer.from(b64, 'base64'));

describe('NF4 (bitsandbytes)', () => {
  const w = f32(FIXTURE.w);

  it.each([['nf4', 64], ['nf4_block128', 128]] as const)('%s: codes, absmax and dequantized values equal bitsandbytes\'', (key, blockSize) => {
    const expected = FIXTURE[key];
    const q = quantizeNf4(w, { blockSize });
    expect(Array.from(q.codes)).toEqual(Array.from(u8(expected.codes)));
    expect(Array.from(q.absmax as Float32Array)).toEqual(Array.from(f32(expected.absmax)));
    expect(Array.from(dequantizeNf4(q))).toEqual(Array.from(f32(expected.dequantized)));
  });

  it('an odd count pads the last byte with code 7 (zero); the all-zero block dequantizes to zeros', () => {
    const q = quantizeNf4(w);
    expect(w.length % 2).toBe(1);
    expect(q.codes[q.codes.length - 1] & 0x0f).toBe(7);
    expect(Array.from(dequantizeNf4(q, 64, 128)).every((v) => v === 0)).toBe(true);
  });

  it('a value exactly between two codes takes the lower one; a NaN makes its block NaN (as in bitsandbytes)', () => {
    const w2 = new Float32Array(64);
    w2[0] = 1;
    w2[1] = Math.fround((NF4_CODES[9] + NF4_CODES[10]) / 2);
    w2[33] = NaN;
    const q = quantizeNf4(w2, { blockSize: 32 });
    expect(q.codes[0]).toBe((15 << 4) | 9);
    expect(Number.isNaN((q.absmax as Float32Array)[1])).toBe(true);
    expect(Array.from(dequantizeNf4(q, 32, 64)).every(Number.isNaN)).toBe(true);
  });

  it('double quantization: nested codes, absmax and offset, and the dequantized weight, equal bitsandbytes\'', () => {
    const e = FIXTURE.nf4_double;
    const q = quantizeNf4(f32(e.w), { blockSize: 32, doubleQuant: true });
    const nested = q.absmax as Exclude<typeof q.absmax, Float32Array>;
    expect(nested.offset).toBeCloseTo(e.nested.offset, 6);  // a mean: summation order may differ by an ulp
    expect(Array.from(nested.absmax)).toEqual(Array.from(f32(e.nested.absmax)));
    expect(Array.from(nested.codes)).toEqual(Array.from(u8(e.nested.codes)));
    expect(Array.from(q.codes)).toEqual(Array.from(u8(e.codes)));
    expect(dequantizeNf4(q)).toAllClose(f32(e.dequantized), { rtol: 1e-6, atol: 0 });
    expect(nf4Absmax(q).length).toBe(261);
  });

  // torch's vectorized linspace rounds some boundaries differently from any one float32 formula, so a few
  // of the 256 values differ by an ulp or two; the nested codes above are still equal.
  it('the signed dynamic map equals create_dynamic_map() to two float32 ulps', () => {
    expect(DYNAMIC_MAP).toAllClose(f32(FIXTURE.dynamic_map), { rtol: 2.5e-7, atol: 0 });
    expect(DYNAMIC_MAP[0]).toBe(Math.fround(-0.99296875));
    expect(DYNAMIC_MAP[127]).toBe(0);
    expect(DYNAMIC_MAP[255]).toBe(1);
  });

  it('refuses a block size bitsandbytes does not have', () => {
    expect(() => quantizeNf4(w, { blockSize: 48 })).toThrow('quantizeNf4: blockSize must be one of 32, 64, 128, 256, 512, 1024, 2048, 4096, got 48');
  });
});

describe('int8 absmax (LLM.int8 rows, llama2.c groups)', () => {
  const rows = f32(FIXTURE.rows);

  it.each([['int8_rows', 32], ['int8_group8', 8]] as const)('%s: q and absmax equal PyTorch\'s; dequantized within half a step', (key, group) => {
    const q = quantizeInt8(rows, group);
    expect(Array.from(q.q)).toEqual(FIXTURE[key].q);
    expect(Array.from(q.absmax)).toEqual(FIXTURE[key].absmax);
    const back = dequantizeInt8(q);
    for (let i = 0; i < rows.length; i++) expect(Math.abs(back[i] - rows[i])).toBeLessThanOrEqual(q.absmax[Math.floor(i / group)] / 254 + 1e-7);
  });

  it('refuses a group size that does not divide the weight', () => {
    expect(() => quantizeInt8(rows, 5)).toThrow('quantizeInt8: groupSize must be a positive integer dividing the 224 values, got 5');
  });
});

describe('bfloat16', () => {
  it('fp32 -> bf16 rounds to nearest even as torch does (ties, overflow to inf, subnormals)', () => {
    const input = f32(FIXTURE.bf16_in);
    expect(Array.from(input, (v) => f32ToBf16(v))).toEqual(FIXTURE.bf16_bits);
    for (const bits of FIXTURE.bf16_bits as number[]) expect(f32ToBf16(bf16ToF32(bits))).toBe(bits);
    const withNaN = Float32Array.from([...input, NaN, -NaN]);
    expect(Array.from(f32ArrayToBf16(withNaN))).toEqual(Array.from(withNaN, (v) => f32ToBf16(v)));
  });
});
