/** saveSafetensors writes atomically: a temporary file beside the target, synced, then renamed. */
import * as fs from 'fs';
import * as path from 'path';
import { fromArray } from '../../lib';
import { loadSafetensors, saveSafetensors, writeFileAtomic } from '../../lib/io';
import { scratchDir } from './helpers';

const { dir, cleanup } = scratchDir('atomic');
afterAll(cleanup);

const leftovers = (folder: string) => fs.readdirSync(folder).filter((f) => f.endsWith('.tmp'));

test('a successful write leaves only the target', () => {
  const sub = fs.mkdtempSync(path.join(dir, 'ok-'));
  const target = path.join(sub, 'model.safetensors');
  saveSafetensors(target, { w: fromArray([1, 2], [2]) });
  saveSafetensors(target, { w: fromArray([3, 4, 5], [3]) });  // replacing an existing file
  expect(fs.readdirSync(sub)).toEqual(['model.safetensors']);
  expect(Array.from(loadSafetensors(target).tensors.w.toFloat32Array())).toEqual([3, 4, 5]);
});

describe('a failed write leaves the existing file intact and no temporary file', () => {
  const sub = fs.mkdtempSync(path.join(dir, 'fail-'));
  const target = path.join(sub, 'adapter.safetensors');
  let original: Buffer;
  beforeAll(() => {
    saveSafetensors(target, { keep: fromArray([7, 8, 9], [3]) }, { v: '1' });
    original = fs.readFileSync(target);
  });
  afterEach(() => {
    expect(fs.readFileSync(target).equals(original)).toBe(true);
    expect(leftovers(sub)).toEqual([]);
  });

  test('a raw tensor with a bad shape', () => {
    const good = fromArray([1], [1]);
    expect(() => saveSafetensors(target, { good, bad: { dtype: 'F32', shape: [2, -1], data: new Float32Array(2) } }))
      .toThrow(/saveSafetensors: tensor "bad": shape must be an array of non-negative integers, got \[2,-1\]/);
  });

  test('raw data that does not fill its shape', () => {
    expect(() => saveSafetensors(target, { bad: { dtype: 'I32', shape: [3], data: new Int32Array(2) } }))
      .toThrow(/tensor "bad": 2 values do not fill the shape \(3 elements\)/);
  });

  test('values that do not fit the dtype', () => {
    expect(() => saveSafetensors(target, { bad: { dtype: 'U8', shape: [2], data: [1, 256] } })).toThrow(/value 256 at index 1 does not fit U8/);
    expect(() => saveSafetensors(target, { bad: { dtype: 'I64', shape: [1], data: [2 ** 60] } })).toThrow(/is not an integer/);
  });

  test('an unknown dtype, a disposed tensor, bad metadata, the reserved name', () => {
    expect(() => saveSafetensors(target, { bad: { dtype: 'F12' as 'F32', shape: [1], data: [1] } })).toThrow(/unknown dtype "F12"/);
    const gone = fromArray([1], [1]);
    gone.dispose();
    expect(() => saveSafetensors(target, { gone })).toThrow(/tensor "gone": was disposed/);
    expect(() => saveSafetensors(target, {}, { epoch: 3 as unknown as string })).toThrow(/metadata "epoch" must be a string/);
    expect(() => saveSafetensors(target, { __metadata__: fromArray([1], [1]) })).toThrow(/reserved/);
    expect(() => saveSafetensors(target, {}, undefined, { dtype: 'F64' as 'F32' })).toThrow(/dtype must be 'F32', 'F16' or 'BF16'/);
  });

  test('an error in the middle of writing the data', () => {
    const first = fromArray([1, 2], [2]);
    const second = fromArray([3, 4], [2]);
    jest.spyOn(second, 'toFloat32Array').mockImplementation(() => {
      throw new Error('device lost');
    });
    expect(() => saveSafetensors(target, { a: first, b: second })).toThrow('device lost');
  });
});

test('writeFileAtomic cleans up after its callback throws and creates nothing', () => {
  const sub = fs.mkdtempSync(path.join(dir, 'cb-'));
  const target = path.join(sub, 'x.bin');
  expect(() => writeFileAtomic(target, (fd) => {
    fs.writeSync(fd, 'partial');
    throw new Error('stop');
  })).toThrow('stop');
  expect(fs.readdirSync(sub)).toEqual([]);
});

test('a target folder that does not exist is an error and leaves nothing', () => {
  expect(() => saveSafetensors(path.join(dir, 'missing', 'x.safetensors'), {})).toThrow(/ENOENT/);
});
