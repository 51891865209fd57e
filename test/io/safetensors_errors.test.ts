/**
 * Every way a safetensors file can break the format's rules is refused with a FileFormatError whose
 * message names the file and the problem, before any tensor is allocated.
 */
import * as fs from 'fs';
import * as path from 'path';
import { fromArray, memory } from '../../lib';
import { FileFormatError, loadSafetensors, SafetensorsFile, saveSafetensors } from '../../lib/io';
import { craftSafetensors, scratchDir } from './helpers';

const { dir, cleanup } = scratchDir('st-bad');
afterAll(cleanup);

const f32 = (n: number) => Buffer.alloc(4 * n);
const entry = (dtype: unknown, shape: unknown, offsets: unknown) => ({ dtype, shape, data_offsets: offsets });

interface Case {
  what: string;
  bytes: () => Buffer;
  message: RegExp;
}

const cases: Case[] = [
  { what: 'a file shorter than 8 bytes', bytes: () => Buffer.from([1, 2, 3, 4, 5]), message: /file is 5 bytes, shorter than the 8-byte header length/ },
  { what: 'an empty file', bytes: () => Buffer.alloc(0), message: /file is 0 bytes/ },
  { what: 'a header length past the end of the file', bytes: () => craftSafetensors('{}', undefined, 1000n),
    message: /header length 1000 runs past the end of the file \(8 \+ 1000 > 10 bytes\)/ },
  { what: 'an absurd header length', bytes: () => craftSafetensors('{}', undefined, 1n << 60n), message: /header length 1152921504606846976 is over the 100000000-byte limit/ },
  { what: 'a header that is not JSON', bytes: () => craftSafetensors('{"a": {"dtype": "F32",'), message: /header is not valid JSON/ },
  { what: 'a header that is not UTF-8', bytes: () => craftSafetensors(Uint8Array.of(0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d)),
    message: /header is not valid UTF-8/ },
  { what: 'a header starting with a UTF-8 byte order mark (Hugging Face refuses it)',
    bytes: () => craftSafetensors(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(JSON.stringify({ w: entry('F32', [1], [0, 4]) }))]), f32(1)),
    message: /header must start with "\{", got a UTF-8 byte order mark \(EF BB BF\)/ },
  { what: 'a header that is an array', bytes: () => craftSafetensors('[1, 2]'), message: /header must be a JSON object, got \[1,2\]/ },
  { what: 'a header that is null', bytes: () => craftSafetensors('null'), message: /header must be a JSON object, got null/ },
  { what: 'an entry that is not an object', bytes: () => craftSafetensors({ w: 5 }), message: /tensor "w": entry must be an object, got 5/ },
  { what: 'an entry without dtype', bytes: () => craftSafetensors({ w: { shape: [1], data_offsets: [0, 4] } }, f32(1)), message: /tensor "w": entry has no "dtype"/ },
  { what: 'an entry without shape', bytes: () => craftSafetensors({ w: { dtype: 'F32', data_offsets: [0, 4] } }, f32(1)), message: /tensor "w": entry has no "shape"/ },
  { what: 'an entry without data_offsets', bytes: () => craftSafetensors({ w: { dtype: 'F32', shape: [1] } }, f32(1)), message: /tensor "w": entry has no "data_offsets"/ },
  { what: 'an unknown dtype', bytes: () => craftSafetensors({ w: entry('F128', [1], [0, 16]) }, f32(4)), message: /tensor "w": unknown dtype "F128" \(known: BOOL, U8/ },
  { what: 'a lower-case dtype', bytes: () => craftSafetensors({ w: entry('f32', [1], [0, 4]) }, f32(1)), message: /unknown dtype "f32"/ },
  { what: 'a negative shape entry', bytes: () => craftSafetensors({ w: entry('F32', [-1], [0, 4]) }, f32(1)), message: /tensor "w": shape must be an array of non-negative integers, got \[-1\]/ },
  { what: 'a fractional shape entry', bytes: () => craftSafetensors({ w: entry('F32', [1.5], [0, 4]) }, f32(1)), message: /shape must be an array of non-negative integers, got \[1.5\]/ },
  { what: 'a string shape entry', bytes: () => craftSafetensors({ w: entry('F32', ['2'], [0, 8]) }, f32(2)), message: /shape must be an array of non-negative integers, got \["2"\]/ },
  { what: 'a shape that is not an array', bytes: () => craftSafetensors({ w: entry('F32', 2, [0, 8]) }, f32(2)), message: /shape must be an array of non-negative integers, got 2/ },
  { what: 'data_offsets with one number', bytes: () => craftSafetensors({ w: entry('F32', [1], [4]) }, f32(1)),
    message: /tensor "w": data_offsets must be \[begin, end\] with integers 0 <= begin <= end, got \[4\]/ },
  { what: 'data_offsets with begin > end', bytes: () => craftSafetensors({ w: entry('F32', [1], [8, 4]) }, f32(2)), message: /data_offsets must be \[begin, end\].*got \[8,4\]/ },
  { what: 'negative data_offsets', bytes: () => craftSafetensors({ w: entry('F32', [1], [-4, 0]) }, f32(1)), message: /data_offsets must be \[begin, end\].*got \[-4,0\]/ },
  { what: 'fractional data_offsets', bytes: () => craftSafetensors({ w: entry('F32', [1], [0, 4.5]) }, f32(1)), message: /data_offsets must be \[begin, end\].*got \[0,4.5\]/ },
  { what: 'a byte count that does not match the shape', bytes: () => craftSafetensors({ w: entry('F32', [2, 3], [0, 20]) }, f32(5)),
    message: /tensor "w": data_offsets \[0, 20\] hold 20 bytes but shape \[2, 3\] of F32 needs 24/ },
  { what: 'a byte count that does not match the dtype', bytes: () => craftSafetensors({ w: entry('F16', [4], [0, 16]) }, f32(4)),
    message: /hold 16 bytes but shape \[4\] of F16 needs 8/ },
  { what: 'overlapping tensors', bytes: () => craftSafetensors({ a: entry('F32', [2], [0, 8]), b: entry('F32', [2], [4, 12]) }, f32(3)),
    message: /tensor "b": data_offsets \[4, 12\] overlap tensor "a" ending at byte 8/ },
  { what: 'two tensors on the same bytes', bytes: () => craftSafetensors({ a: entry('F32', [2], [0, 8]), b: entry('F32', [2], [0, 8]) }, f32(2)),
    message: /data_offsets \[0, 8\] overlap tensor "[ab]" ending at byte 8/ },
  { what: 'a gap between tensors', bytes: () => craftSafetensors({ a: entry('F32', [2], [0, 8]), b: entry('F32', [1], [12, 16]) }, f32(4)),
    message: /tensor "b": data_offsets \[12, 16\] leave a gap of 4 bytes after tensor "a" ending at byte 8/ },
  { what: 'a first tensor that does not start at 0', bytes: () => craftSafetensors({ a: entry('F32', [1], [4, 8]) }, f32(2)),
    message: /tensor "a": data_offsets \[4, 8\] leave a gap of 4 bytes after the start of the byte buffer/ },
  { what: 'bytes after the last tensor', bytes: () => craftSafetensors({ a: entry('F32', [1], [0, 4]) }, f32(3)),
    message: /8 bytes after the last tensor \(byte 4 of the 12-byte buffer\) belong to no tensor/ },
  { what: 'data in a header with no tensors', bytes: () => craftSafetensors({}, f32(1)), message: /4 bytes after the last tensor .* belong to no tensor/ },
  { what: 'a truncated byte buffer', bytes: () => craftSafetensors({ a: entry('F32', [2], [0, 8]), b: entry('F32', [4], [8, 24]) }, f32(5)),
    message: /truncated: the tensors need 24 bytes after the header but the file has 20 \(tensor "b" ends at byte 24\)/ },
  { what: 'metadata that is not an object', bytes: () => craftSafetensors({ __metadata__: 'x' }), message: /"__metadata__" must be an object of strings, got "x"/ },
  { what: 'metadata with a non-string value', bytes: () => craftSafetensors({ __metadata__: { epoch: 3 } }), message: /"__metadata__" values must be strings; "epoch" holds 3/ },
];

describe.each(cases)('$what', ({ bytes, message }) => {
  test('is a FileFormatError naming the file and the problem, from every reader', () => {
    const file = path.join(dir, 'bad.safetensors');
    fs.writeFileSync(file, bytes());
    const before = memory().numTensors;
    for (const read of [() => SafetensorsFile.open(file), () => loadSafetensors(file)]) {
      let caught: unknown;
      try {
        read();
      } catch (e) {
        caught = e;
      }
      expect(caught).toBeInstanceOf(FileFormatError);
      const err = caught as FileFormatError;
      expect(err.file).toBe(file);
      expect(err.message).toContain(`safetensors file ${file}: `);
      expect(err.message).toMatch(message);
    }
    expect(memory().numTensors).toBe(before);
  });
});

test('tensors listed in any order in the header are fine as long as their offsets tile the buffer', () => {
  const file = path.join(dir, 'order.safetensors');
  const data = Buffer.from(new Float32Array([1, 2, 3]).buffer);
  fs.writeFileSync(file, craftSafetensors({ second: entry('F32', [2], [4, 12]), z: entry('F32', [0], [4, 4]), first: entry('F32', [1], [0, 4]) }, data));
  const f = SafetensorsFile.open(file);
  expect(f.names()).toEqual(['first', 'z', 'second']);
  expect(Array.from(f.load('second').toFloat32Array())).toEqual([2, 3]);
  f.close();
});

test('a saved file cut short is reported as truncated', () => {
  const file = path.join(dir, 'cut.safetensors');
  const t = fromArray([1, 2, 3, 4], [4]);
  saveSafetensors(file, { t });
  const whole = fs.readFileSync(file);
  fs.writeFileSync(file, whole.subarray(0, whole.byteLength - 3));
  expect(() => loadSafetensors(file)).toThrow(/cut\.safetensors: truncated: the tensors need 16 bytes after the header but the file has 13/);
  t.dispose();
});

test('a missing file names the path', () => {
  expect(() => loadSafetensors(path.join(dir, 'nope.safetensors'))).toThrow(/safetensors file .*nope\.safetensors: cannot open/);
});

test('a "__proto__" tensor name is stored as an ordinary key', () => {
  const file = path.join(dir, 'proto.safetensors');
  fs.writeFileSync(file, craftSafetensors('{"__proto__":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', f32(1)));
  const { tensors } = loadSafetensors(file);
  expect(Object.keys(tensors)).toEqual(['__proto__']);
  expect(Object.getPrototypeOf(tensors)).toBe(Object.prototype);
});
