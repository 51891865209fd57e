/**
 * safetensors reading and writing: a file with every dtype made by an independent Python script
 * (test/fixtures/io/make_safetensors_fixture.py), round trips, the lazy reader, F16/BF16 output.
 */
import * as fs from 'fs';
import * as path from 'path';
import { fromArray, Tensor } from '../../lib';
import { listSafetensors, loadSafetensors, SafetensorsFile, saveSafetensors, type RawTensorInput, type SafetensorsDtype } from '../../lib/io';
import { craftSafetensors, decodeNumber, le, scratchDir } from './helpers';

const FIXTURES = path.resolve(__dirname, '../fixtures/io');
const fixtureFile = path.join(FIXTURES, 'mixed_dtypes.safetensors');
const fixture = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'mixed_dtypes.json'), 'utf8')) as {
  order: string[];
  metadata: Record<string, string>;
  tensors: Record<string, { dtype: SafetensorsDtype; shape: number[]; input: (number | string)[]; float32: (number | string)[] }>;
};

const { dir, cleanup } = scratchDir('st');
afterAll(cleanup);

/** Exact float32 comparison that tells -0 from 0 and matches NaN with NaN. */
function expectSameFloats(actual: Float32Array, expected: number[], what: string): void {
  expect(actual.length).toBe(expected.length);
  expected.forEach((e, i) => {
    if (!Object.is(actual[i], Math.fround(e))) throw new Error(`${what}[${i}]: got ${actual[i]}, expected ${e}`);
  });
}

describe('the fixture with every dtype', () => {
  test('lists names in file order with dtypes, shapes and metadata', () => {
    const { tensors, metadata } = listSafetensors(fixtureFile);
    expect(tensors.map((t) => t.name)).toEqual(fixture.order);
    for (const t of tensors) {
      expect(t.dtype).toBe(fixture.tensors[t.name].dtype);
      expect(t.shape).toEqual(fixture.tensors[t.name].shape);
    }
    expect(metadata).toEqual(fixture.metadata);
  });

  test('every dtype widens to the float32 values the reference computed', () => {
    const file = SafetensorsFile.open(fixtureFile);
    try {
      for (const name of file.names()) {
        const t = file.load(name);
        expect(t.shape).toEqual(fixture.tensors[name].shape);
        expectSameFloats(t.toFloat32Array(), fixture.tensors[name].float32.map(decodeNumber), name);
        t.dispose();
      }
    } finally {
      file.close();
    }
  });

  test('integers come back raw and exact (64-bit as bigints), floats as tensors', () => {
    const { tensors, raw } = loadSafetensors(fixtureFile);
    try {
      expect(Object.keys(tensors).sort()).toEqual(['bf16', 'empty', 'f16', 'f32', 'f64', 'f8_e4m3', 'f8_e5m2', 'gewicht.ä', 'scalar']);
      expect(raw.i64.data).toBeInstanceOf(BigInt64Array);
      expect(Array.from(raw.i64.data as BigInt64Array)).toEqual([-9007199254740993n, 0n, 2n ** 62n]);
      expect(Array.from(raw.u64.data as BigUint64Array)).toEqual([2n ** 64n - 1n, 5n]);
      expect(raw.i32.data).toEqual(new Int32Array([-2147483648, 2147483647, 0, -1]));
      expect(raw.u32.data).toEqual(new Uint32Array([4294967295, 7]));
      expect(raw.i16.data).toEqual(new Int16Array([-32768, 32767, -5]));
      expect(raw.u16.data).toEqual(new Uint16Array([0, 65535, 300]));
      expect(raw.i8.data).toEqual(new Int8Array([-128, 127, 0, -1]));
      expect(raw.u8.data).toEqual(new Uint8Array([0, 255, 1, 128]));
      expect(raw.bool).toEqual({ dtype: 'BOOL', shape: [3], data: new Uint8Array([1, 0, 1]) });
      expect(tensors.scalar.shape).toEqual([]);
      expect(tensors.scalar.item()).toBe(42);
      expect(tensors.empty.shape).toEqual([0, 3]);
    } finally {
      Object.values(tensors).forEach((t) => t.dispose());
    }
  });

  test('integersAsFloat and names select and convert', () => {
    const { tensors, raw } = loadSafetensors(fixtureFile, { integersAsFloat: true, names: ['i32', 'bool', 'u64'] });
    expect(Object.keys(raw)).toEqual([]);
    expect(Array.from(tensors.i32.toFloat32Array())).toEqual([-2147483648, Math.fround(2147483647), 0, -1]);
    expect(Array.from(tensors.bool.toFloat32Array())).toEqual([1, 0, 1]);
    expect(Array.from(tensors.u64.toFloat32Array())).toEqual([Math.fround(2 ** 64), 5]);
    Object.values(tensors).forEach((t) => t.dispose());
  });

  test('writing the same tensors gives the reference file byte for byte (order, JSON, padding)', () => {
    const inputs: Record<string, RawTensorInput> = {};
    for (const [name, t] of Object.entries(fixture.tensors)) {
      const values = t.input;
      let data: unknown;
      if (t.dtype === 'I64' || t.dtype === 'U64') data = values.map((v) => BigInt(v));
      else if (t.dtype.startsWith('F8')) data = Uint8Array.from(values.map(Number));
      else if (t.dtype === 'F64') data = values.map(decodeNumber);
      else if (t.dtype === 'F32' || t.dtype === 'F16' || t.dtype === 'BF16') data = Float32Array.from(values.map(decodeNumber));
      else data = values.map(Number);
      inputs[name] = { dtype: t.dtype, shape: t.shape, data };
    }
    const out = path.join(dir, 'rewritten.safetensors');
    saveSafetensors(out, inputs, fixture.metadata);
    expect(fs.readFileSync(out).equals(fs.readFileSync(fixtureFile))).toBe(true);
  });
});

describe('round trips', () => {
  test('float32 tensors and metadata survive save and load exactly', () => {
    const a = fromArray([1.5, -2, 3.25, 1e-38, -0, 3.4e38], [2, 3]);
    const b = fromArray([7], [1]);
    const file = path.join(dir, 'roundtrip.safetensors');
    saveSafetensors(file, { 'model.layers.0.w': a, bias: b }, { format: 'pt', epoch: '3' });
    const back = loadSafetensors(file);
    expect(back.metadata).toEqual({ format: 'pt', epoch: '3' });
    expect(back.tensors['model.layers.0.w'].shape).toEqual([2, 3]);
    expectSameFloats(back.tensors['model.layers.0.w'].toFloat32Array(), Array.from(a.toFloat32Array()), 'w');
    expect(back.tensors.bias.toFloat32Array()).toEqual(new Float32Array([7]));
    [a, b, ...Object.values(back.tensors)].forEach((t) => t.dispose());
  });

  test('keys are sorted by name, the header padded with spaces to 8 bytes, no metadata when none given', () => {
    const t = fromArray([1, 2, 3], [3]);
    const file = path.join(dir, 'sorted.safetensors');
    saveSafetensors(file, { zeta: t, alpha: t, 'Beta': t });
    const bytes = fs.readFileSync(file);
    const n = Number(bytes.readBigUInt64LE(0));
    expect(n % 8).toBe(0);
    const header = bytes.subarray(8, 8 + n).toString('utf8');
    expect(header).toBe(header.trimEnd() + ' '.repeat(n - header.trimEnd().length));
    expect(Object.keys(JSON.parse(header))).toEqual(['Beta', 'alpha', 'zeta']);
    expect(header.trimEnd()).toBe('{"Beta":{"dtype":"F32","shape":[3],"data_offsets":[0,12]},"alpha":{"dtype":"F32","shape":[3],"data_offsets":[12,24]},' +
      '"zeta":{"dtype":"F32","shape":[3],"data_offsets":[24,36]}}');
    expect(bytes.byteLength).toBe(8 + n + 36);
    t.dispose();
  });

  test('F16 and BF16 output round to nearest even and read back widened', () => {
    const values = [1, 1 / 3, -65504, 70000, 1e-8, 2.5];
    const t = fromArray(values, [2, 3]);
    for (const dtype of ['F16', 'BF16'] as const) {
      const file = path.join(dir, `half-${dtype}.safetensors`);
      saveSafetensors(file, { t }, undefined, { dtype });
      const f = SafetensorsFile.open(file);
      expect(f.info('t')).toEqual({ name: 't', dtype, shape: [2, 3], dataOffsets: [0, 12] });
      const raw = f.loadRaw('t').data as Uint16Array;
      const back = f.load('t');
      f.close();
      const expected = dtype === 'F16'
        ? [0x3c00, 0x3555, 0xfbff, 0x7c00, 0x00, 0x4100]      // 1e-8 is under half the smallest subnormal
        : [0x3f80, 0x3eab, 0xc780, 0x4789, 0x322c, 0x4020];
      expect(Array.from(raw)).toEqual(expected);
      const widened = back.toFloat32Array();
      expect(widened[0]).toBe(1);
      expect(widened[5]).toBe(2.5);
      expect(Math.abs(widened[1] - 1 / 3)).toBeLessThan(dtype === 'F16' ? 1e-4 : 2e-3);
      back.dispose();
    }
    t.dispose();
  });

  test('non-contiguous views are written in logical order', () => {
    const t = fromArray([1, 2, 3, 4, 5, 6], [2, 3]);
    const tt = t.T;
    const file = path.join(dir, 'transposed.safetensors');
    saveSafetensors(file, { tt });
    const back = loadSafetensors(file).tensors.tt;
    expect(back.shape).toEqual([3, 2]);
    expect(Array.from(back.toFloat32Array())).toEqual([1, 4, 2, 5, 3, 6]);
    [t, tt, back].forEach((x) => x.dispose());
  });

  test('hand-made F16, BF16, I32, U8 and F64 files read as their bytes say', () => {
    const f16 = new Uint16Array([0x3c00, 0xc000, 0x7bff, 0x0001, 0x8000, 0xfc00]);
    const bf16 = new Uint16Array([0x3f80, 0x4049, 0xff80]);
    const i32 = new Int32Array([-7, 1 << 24, 123456789]);
    const f64 = new Float64Array([Math.PI, -1e-310]);
    const u8 = new Uint8Array([9, 200]);
    const data = Buffer.concat([le(f64), le(i32), le(f16), le(bf16), le(u8)]);
    const header = {
      d: { dtype: 'F64', shape: [2], data_offsets: [0, 16] },
      i: { dtype: 'I32', shape: [3], data_offsets: [16, 28] },
      h: { dtype: 'F16', shape: [2, 3], data_offsets: [28, 40] },
      b: { dtype: 'BF16', shape: [3], data_offsets: [40, 46] },
      u: { dtype: 'U8', shape: [2, 1], data_offsets: [46, 48] },
    };
    const file = path.join(dir, 'handmade.safetensors');
    fs.writeFileSync(file, craftSafetensors(header, data));
    const { tensors, raw } = loadSafetensors(file);
    expect(Array.from(tensors.h.toFloat32Array())).toEqual([1, -2, 65504, 2 ** -24, -0, -Infinity]);
    expect(Array.from(tensors.b.toFloat32Array())).toEqual([1, 3.140625, -Infinity]);
    expect(Array.from(tensors.d.toFloat32Array())).toEqual([Math.fround(Math.PI), -0]);
    expect(raw.i.data).toEqual(i32);
    expect(raw.u).toEqual({ dtype: 'U8', shape: [2, 1], data: u8 });
    Object.values(tensors).forEach((t) => t.dispose());
  });

  test('an empty file (no tensors) and zero-size tensors are valid', () => {
    const file = path.join(dir, 'empty.safetensors');
    saveSafetensors(file, {});
    expect(fs.readFileSync(file).toString('latin1')).toBe('\x08\0\0\0\0\0\0\0{}      ');
    expect(loadSafetensors(file)).toEqual({ tensors: {}, raw: {}, metadata: {} });
    const z = fromArray(new Float32Array(0), [0, 4]);
    saveSafetensors(file, { z, one: fromArray([1], [1]) });
    const back = loadSafetensors(file).tensors;
    expect(back.z.shape).toEqual([0, 4]);
    expect(back.one.item()).toBe(1);
  });
});

describe('the lazy reader', () => {
  test('lists without reading data and loads one tensor by name', () => {
    const file = path.join(dir, 'lazy.safetensors');
    const a = fromArray([1, 2, 3, 4], [2, 2]);
    const b = fromArray([5, 6], [2]);
    saveSafetensors(file, { a, b }, { k: 'v' });
    const f = SafetensorsFile.open(file);
    expect(f.names()).toEqual(['a', 'b']);
    expect(f.list()).toEqual([
      { name: 'a', dtype: 'F32', shape: [2, 2], dataOffsets: [0, 16] },
      { name: 'b', dtype: 'F32', shape: [2], dataOffsets: [16, 24] },
    ]);
    expect(f.metadata).toEqual({ k: 'v' });
    expect(f.has('b')).toBe(true);
    const got = f.load('b');
    expect(Array.from(got.toFloat32Array())).toEqual([5, 6]);
    expect(() => f.load('c')).toThrow(/lazy\.safetensors: no tensor named "c"/);
    f.close();
    expect(() => f.load('a')).toThrow(/was closed/);
    [a, b, got].forEach((t) => t.dispose());
  });

  test('a file replaced while open is still read whole from the old copy', () => {
    const file = path.join(dir, 'replaced.safetensors');
    const a = fromArray([1, 2], [2]);
    saveSafetensors(file, { a });
    const f = SafetensorsFile.open(file);
    const c = fromArray([9, 9, 9], [3]);
    saveSafetensors(file, { c });
    const got = f.load('a');
    expect(Array.from(got.toFloat32Array())).toEqual([1, 2]);
    f.close();
    [a, c, got].forEach((t) => t.dispose());
  });
});

test('Tensor is what the loaders return', () => {
  const file = path.join(dir, 'kind.safetensors');
  saveSafetensors(file, { x: fromArray([1], [1]) });
  expect(loadSafetensors(file).tensors.x).toBeInstanceOf(Tensor);
});
