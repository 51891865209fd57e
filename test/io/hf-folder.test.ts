/**
 * Hugging Face model folders: a sharded folder written by an independent Python transcription of
 * transformers' save_pretrained (test/fixtures/io/make_hf_folder_fixture.py) is read back exactly and
 * written again byte for byte; single-file folders, onlyKeys and the lazy reader; every broken folder
 * (missing shard, key missing from its shard, corrupt shard, malformed config or index) is an error
 * naming the file and the key or position.
 */
import * as fs from 'fs';
import * as path from 'path';
import { fromArray, Tensor } from '../../lib';
import {
  FileFormatError, loadHfModelFolder, openHfModelFolder, planShards, saveHfModelFolder, saveSafetensors, SafetensorsFile,
} from '../../lib/io';
import { craftSafetensors, scratchDir } from './helpers';

const FIXTURES = path.resolve(__dirname, '../fixtures/io');
const SHARDED = path.join(FIXTURES, 'hf_sharded');
const golden = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'hf_sharded.json'), 'utf8')) as {
  max_shard_size: number;
  order: string[];
  config: Record<string, unknown>;
  files: string[];
  tensors: Record<string, { shape: number[]; values: number[] }>;
};

const { dir: scratch, cleanup } = scratchDir('hf');
afterAll(cleanup);
let folderCount = 0;
const freshDir = (tag: string) => path.join(scratch, `${tag}-${folderCount++}`);

/** The fixture's tensors, in its state-dict order. */
function goldenTensors(): Map<string, Tensor> {
  return new Map(golden.order.map((n) => [n, fromArray(Float32Array.from(golden.tensors[n].values), golden.tensors[n].shape)]));
}

function disposeAll(m: Map<string, Tensor>): void {
  for (const t of m.values()) t.dispose();
}

/** Copies the fixture folder so a test may break it. */
function copyOfSharded(): string {
  const dir = freshDir('copy');
  fs.mkdirSync(dir);
  for (const f of fs.readdirSync(SHARDED)) fs.copyFileSync(path.join(SHARDED, f), path.join(dir, f));
  return dir;
}

describe('reading the Python-written sharded folder', () => {
  test('config, every tensor with its shape and values, the shard files', () => {
    const { config, tensors, files } = loadHfModelFolder(SHARDED);
    try {
      expect(config).toEqual(golden.config);
      expect(files.slice().sort()).toEqual(golden.files);
      expect([...tensors.keys()].sort()).toEqual(golden.order.slice().sort());
      for (const [name, t] of tensors) {
        expect(t.shape).toEqual(golden.tensors[name].shape);
        expect(Array.from(t.toFloat32Array())).toEqual(golden.tensors[name].values);
      }
    } finally {
      disposeAll(tensors);
    }
  });

  test('onlyKeys as a list or a predicate reads only those tensors; an unknown key is an error', () => {
    const some = loadHfModelFolder(SHARDED, { onlyKeys: ['lm_head.weight', 'model.norm.weight'] });
    expect([...some.tensors.keys()]).toEqual(['lm_head.weight', 'model.norm.weight']);
    disposeAll(some.tensors);
    const layers = loadHfModelFolder(SHARDED, { onlyKeys: (k) => k.includes('.layers.') });
    expect([...layers.tensors.keys()].sort()).toEqual(['model.layers.0.mlp.up_proj.weight', 'model.layers.0.self_attn.q_proj.weight']);
    disposeAll(layers.tensors);
    expect(() => loadHfModelFolder(SHARDED, { onlyKeys: ['lm_head.weight', 'nope.weight'] })).toThrow(/has no tensor named "nope.weight"/);
  });

  test('the lazy reader lists without reading and loads one tensor at a time', () => {
    const reader = openHfModelFolder(SHARDED);
    try {
      expect(reader.keys().length).toBe(golden.order.length);
      const info = reader.info('model.big.weight');
      expect(info).toMatchObject({ file: 'model-00001-of-00004.safetensors', dtype: 'F32', shape: [64] });
      const t = reader.load('model.norm.weight');
      expect(Array.from(t.toFloat32Array())).toEqual(golden.tensors['model.norm.weight'].values);
      t.dispose();
      expect(() => reader.load('missing')).toThrow(/has no tensor named "missing"/);
    } finally {
      reader.close();
    }
  });
});

describe('writing', () => {
  test('the same tensors and shard size give the Python folder byte for byte (shards, index, config)', () => {
    const dir = freshDir('write');
    const tensors = goldenTensors();
    // A different insertion order of the config keys: HF sorts them.
    const config = Object.fromEntries(Object.entries(golden.config).reverse());
    try {
      saveHfModelFolder(dir, config, tensors, { maxShardSize: golden.max_shard_size });
    } finally {
      disposeAll(tensors);
    }
    const expected = fs.readdirSync(SHARDED).sort();
    expect(fs.readdirSync(dir).sort()).toEqual(expected);
    for (const f of expected) expect({ f, bytes: fs.readFileSync(path.join(dir, f)) }).toEqual({ f, bytes: fs.readFileSync(path.join(SHARDED, f)) });
  });

  test('under the shard size: one model.safetensors with {"format": "pt"}, no index; a record works as a map', () => {
    const dir = freshDir('single');
    const a = fromArray([1, 2, 3, 4, 5, 6], [2, 3]);
    const b = fromArray([0.5], [1]);
    saveHfModelFolder(dir, { model_type: 'gpt2' }, { 'h.0.attn.c_attn.weight': a, 'wte.weight': b });
    expect(fs.readdirSync(dir).sort()).toEqual(['config.json', 'model.safetensors']);
    expect(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')).toBe('{\n  "model_type": "gpt2"\n}\n');
    const file = SafetensorsFile.open(path.join(dir, 'model.safetensors'));
    expect(file.metadata).toEqual({ format: 'pt' });
    file.close();
    const back = loadHfModelFolder(dir);
    expect(back.files).toEqual(['model.safetensors']);
    expect(Array.from(back.tensors.get('h.0.attn.c_attn.weight')!.toFloat32Array())).toEqual([1, 2, 3, 4, 5, 6]);
    disposeAll(back.tensors);
    a.dispose();
    b.dispose();
  });

  test('F16/BF16 storage widens back on load; extra metadata is kept beside "format"', () => {
    for (const dtype of ['F16', 'BF16'] as const) {
      const dir = freshDir(dtype);
      const t = fromArray([1.5, -2, 0.25, 1024], [4]);
      saveHfModelFolder(dir, {}, new Map([['w', t]]), { dtype, metadata: { note: 'x' } });
      t.dispose();
      const file = SafetensorsFile.open(path.join(dir, 'model.safetensors'));
      expect(file.info('w').dtype).toBe(dtype);
      expect(file.metadata).toEqual({ format: 'pt', note: 'x' });
      file.close();
      const back = loadHfModelFolder(dir);
      expect(Array.from(back.tensors.get('w')!.toFloat32Array())).toEqual([1.5, -2, 0.25, 1024]);
      disposeAll(back.tensors);
    }
  });

  test('resaving with another layout leaves no stale shard, index or single file behind', () => {
    const dir = freshDir('resave');
    const tensors = goldenTensors();
    try {
      saveHfModelFolder(dir, { a: 1 }, tensors, { maxShardSize: golden.max_shard_size });
      expect(fs.readdirSync(dir).filter((f) => f.startsWith('model-')).length).toBe(4);
      saveHfModelFolder(dir, { a: 1 }, tensors, { maxShardSize: 300 });
      const shards = fs.readdirSync(dir).filter((f) => f.startsWith('model-'));
      expect(shards.every((f) => f.endsWith(`-of-0000${shards.length}.safetensors`))).toBe(true);
      saveHfModelFolder(dir, { a: 1 }, tensors);
      expect(fs.readdirSync(dir).sort()).toEqual(['config.json', 'model.safetensors']);
      saveHfModelFolder(dir, { a: 1 }, tensors, { maxShardSize: golden.max_shard_size });
      expect(fs.readdirSync(dir)).not.toContain('model.safetensors');
      const back = loadHfModelFolder(dir);
      expect(back.tensors.size).toBe(golden.order.length);
      disposeAll(back.tensors);
    } finally {
      disposeAll(tensors);
    }
    expect(fs.readdirSync(dir).some((f) => f.endsWith('.tmp'))).toBe(false);
  });

  test('bad arguments are refused before anything is written', () => {
    const dir = freshDir('bad-args');
    const t = fromArray([1], [1]);
    const gone = fromArray([1], [1]);
    gone.dispose();
    expect(() => saveHfModelFolder(dir, [] as unknown as Record<string, unknown>, { t })).toThrow(/config must be an object, got an array/);
    expect(() => saveHfModelFolder(dir, { x: NaN }, { t })).toThrow(/"x" is NaN, which JSON cannot hold/);
    expect(() => saveHfModelFolder(dir, {}, { t }, { maxShardSize: 0 })).toThrow(/maxShardSize must be a positive number of bytes, got 0/);
    expect(() => saveHfModelFolder(dir, {}, { t }, { maxShardSize: NaN })).toThrow(/maxShardSize must be a positive number/);
    expect(() => saveHfModelFolder(dir, {}, { t, gone })).toThrow(/tensor "gone": was disposed/);
    expect(() => saveHfModelFolder(dir, {}, { t, s: [1, 2] as unknown as Tensor })).toThrow(/tensor "s": expected a Tensor, got object/);
    expect(fs.existsSync(dir)).toBe(false);
    t.dispose();
  });
});

describe('planShards follows huggingface_hub', () => {
  test('a tensor over the limit gets its own shard where it is met; others fill shards in order', () => {
    const plan = planShards([['a', 100], ['big', 500], ['b', 100], ['c', 50], ['d', 10]], 200);
    expect(plan.shards).toEqual([['big'], ['a', 'b'], ['c', 'd']]);
    expect(plan.files).toEqual(['model-00001-of-00003.safetensors', 'model-00002-of-00003.safetensors', 'model-00003-of-00003.safetensors']);
    expect(plan.totalSize).toBe(760);
    expect(planShards([['a', 200], ['b', 1]], 200).shards).toEqual([['a'], ['b']]);
    expect(planShards([], 200)).toEqual({ shards: [[]], files: ['model.safetensors'], totalSize: 0 });
    expect(planShards([['a', 5]], 200).files).toEqual(['model.safetensors']);
  });
});

describe('broken folders name the file and the problem', () => {
  test('a shard listed in the index but not in the folder names the index, the key and the shard', () => {
    const dir = copyOfSharded();
    fs.unlinkSync(path.join(dir, 'model-00003-of-00004.safetensors'));
    const err = (() => { try { loadHfModelFolder(dir); } catch (e) { return e as FileFormatError; } return null; })();
    expect(err).toBeInstanceOf(FileFormatError);
    expect(err!.file).toBe(path.join(dir, 'model.safetensors.index.json'));
    expect(err!.message).toMatch(/tensor "model.layers.0.mlp.up_proj.weight" is in shard model-00003-of-00004.safetensors, which is not in the folder/);
  });

  test('a key the index places in a shard that lacks it names the shard and the key', () => {
    const dir = copyOfSharded();
    const indexFile = path.join(dir, 'model.safetensors.index.json');
    const index = JSON.parse(fs.readFileSync(indexFile, 'utf8'));
    index.weight_map['model.extra.weight'] = 'model-00004-of-00004.safetensors';
    fs.writeFileSync(indexFile, JSON.stringify(index));
    expect(() => loadHfModelFolder(dir)).toThrow(FileFormatError);
    expect(() => loadHfModelFolder(dir)).toThrow(/model-00004-of-00004.safetensors: has no tensor "model.extra.weight", which model.safetensors.index.json places in it/);
  });

  test('a shard name that leaves the folder is refused', () => {
    const dir = copyOfSharded();
    const indexFile = path.join(dir, 'model.safetensors.index.json');
    fs.writeFileSync(indexFile, JSON.stringify({ weight_map: { w: '../outside.safetensors' } }));
    expect(() => loadHfModelFolder(dir)).toThrow(/weight_map\["w"\] must be a file name in the folder, got "..\/outside.safetensors"/);
    fs.writeFileSync(indexFile, JSON.stringify({ metadata: {} }));
    expect(() => loadHfModelFolder(dir)).toThrow(/"weight_map" must be an object of tensor name -> shard file, got undefined/);
  });

  const corruptions: [string, () => Buffer, RegExp][] = [
    ['a truncated shard', () => fs.readFileSync(path.join(SHARDED, 'model-00002-of-00004.safetensors')).subarray(0, 300), /truncated: the tensors need 192 bytes/],
    ['a header length past the end', () => craftSafetensors('{}', undefined, 5000n), /header length 5000 runs past the end of the file/],
    ['overlapping offsets', () => craftSafetensors({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, Buffer.alloc(12)),
      /tensor "b": data_offsets \[4, 12\] overlap/],
    ['gapped offsets', () => craftSafetensors({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] }, b: { dtype: 'F32', shape: [1], data_offsets: [8, 12] } }, Buffer.alloc(12)),
      /leave a gap of 4 bytes/],
    ['a byte count that does not match the dtype', () => craftSafetensors({ a: { dtype: 'BF16', shape: [4], data_offsets: [0, 16] } }, Buffer.alloc(16)),
      /hold 16 bytes but shape \[4\] of BF16 needs 8/],
  ];
  test.each(corruptions)('%s in one shard is a FileFormatError naming that shard', (_what, bytes, message) => {
    const dir = copyOfSharded();
    const shard = path.join(dir, 'model-00002-of-00004.safetensors');
    fs.writeFileSync(shard, bytes());
    let err: unknown;
    try {
      loadHfModelFolder(dir);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(FileFormatError);
    expect((err as FileFormatError).file).toBe(shard);
    expect((err as Error).message).toMatch(message);
  });

  test('a corrupt model.safetensors names it', () => {
    const dir = freshDir('corrupt-single');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'config.json'), '{}');
    fs.writeFileSync(path.join(dir, 'model.safetensors'), Buffer.from([1, 2, 3]));
    expect(() => loadHfModelFolder(dir)).toThrow(new RegExp(`safetensors file ${path.join(dir, 'model.safetensors').replace(/[.]/g, '\\.')}: file is 3 bytes`));
  });

  const badConfigs: [string, string, RegExp][] = [
    ['bad JSON', '{\n  "a": 1,\n  "b": }\n', /HF config file .*config\.json: is not valid JSON at line 3 column 8 \(character 19\)/],
    ['cut short', '{"a": 1', /is not valid JSON at line 1 column 8 \(character 7\)/],
    ['empty', '', /is not valid JSON at line 1 column 1 \(character 0\)/],
    ['an array', '[1, 2]', /config\.json: must hold a JSON object, got an array/],
    ['a number', '42', /must hold a JSON object, got 42/],
    ['null', 'null', /must hold a JSON object, got null/],
  ];
  test.each(badConfigs)('a config.json that is %s names the file and the position', (_what, text, message) => {
    const dir = freshDir('config');
    saveSafetensors(path.join((fs.mkdirSync(dir), dir), 'model.safetensors'), {});
    fs.writeFileSync(path.join(dir, 'config.json'), text);
    expect(() => loadHfModelFolder(dir)).toThrow(FileFormatError);
    expect(() => loadHfModelFolder(dir)).toThrow(message);
  });

  test('a config without model_type or architectures is fine; a UTF-8 BOM is tolerated', () => {
    const dir = freshDir('bom');
    saveHfModelFolder(dir, { hidden_size: 4 }, {});
    fs.writeFileSync(path.join(dir, 'config.json'), '\ufeff{"hidden_size": 4}');
    expect(loadHfModelFolder(dir).config).toEqual({ hidden_size: 4 });
  });

  test('a folder without config.json, or without weights, says what was tried and what is there', () => {
    const dir = freshDir('empty');
    fs.mkdirSync(dir);
    expect(() => loadHfModelFolder(dir)).toThrow(/HF config file .*config\.json: cannot read/);
    fs.writeFileSync(path.join(dir, 'config.json'), '{}');
    fs.writeFileSync(path.join(dir, 'pytorch_model.bin'), 'x');
    expect(() => loadHfModelFolder(dir)).toThrow(/has no model\.safetensors and no model\.safetensors\.index\.json \(found pytorch_model\.bin: PyTorch pickles are not read here/);
  });
});
