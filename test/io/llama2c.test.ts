/**
 * llama2.c checkpoints: the real stories260K files (float v0 and int8 v2) from ../shared, and small
 * hand-made files for the other versions and for every header or size problem.
 */
import * as fs from 'fs';
import * as path from 'path';
import { memory, Tensor } from '../../lib';
import { FileFormatError, loadLlama2c, readLlama2cConfig } from '../../lib/io';
import { scratchDir, sharedModels } from './helpers';

const models = sharedModels();
// Specs that read ../shared skip, saying why, where it is absent.
const testWithModels = models ? test : test.skip;
if (!models) console.log("skipping the specs that read ../shared/models/stories260K: it is absent here");
const { dir, cleanup } = scratchDir('llama2c');
afterAll(cleanup);

const STORIES_CONFIG = { dim: 64, hiddenDim: 172, nLayers: 5, nHeads: 8, nKvHeads: 4, vocabSize: 512, seqLen: 512 };

function hfNames(layers: number): string[] {
  const names = ['model.embed_tokens.weight', 'model.norm.weight', 'lm_head.weight'];
  for (let l = 0; l < layers; l++)
    for (const p of ['input_layernorm', 'self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj', 'self_attn.o_proj',
      'post_attention_layernorm', 'mlp.gate_proj', 'mlp.down_proj', 'mlp.up_proj'])
      names.push(`model.layers.${l}.${p}.weight`);
  return names;
}

const disposeAll = (w: Record<string, Tensor>) => new Set(Object.values(w)).forEach((t) => t.dispose());

describe('stories260K', () => {
  testWithModels('the float checkpoint (legacy v0): config, names, shapes, tied classifier', () => {
    const { config, weights } = loadLlama2c(path.join(models!, 'stories260K.bin'));
    expect(config).toEqual({ ...STORIES_CONFIG, sharedClassifier: true, headDim: 8, kvDim: 32, version: 0, groupSize: null,
      ropeInterleaved: true, ropeTheta: 10000, rmsNormEps: 1e-5 });
    expect(Object.keys(weights).sort()).toEqual(hfNames(5).sort());
    expect(weights['lm_head.weight']).toBe(weights['model.embed_tokens.weight']);
    expect(weights['model.embed_tokens.weight'].shape).toEqual([512, 64]);
    expect(weights['model.layers.0.self_attn.q_proj.weight'].shape).toEqual([64, 64]);
    expect(weights['model.layers.4.self_attn.k_proj.weight'].shape).toEqual([32, 64]);
    expect(weights['model.layers.2.self_attn.v_proj.weight'].shape).toEqual([32, 64]);
    expect(weights['model.layers.1.mlp.gate_proj.weight'].shape).toEqual([172, 64]);
    expect(weights['model.layers.1.mlp.down_proj.weight'].shape).toEqual([64, 172]);
    expect(weights['model.layers.1.mlp.up_proj.weight'].shape).toEqual([172, 64]);
    expect(weights['model.norm.weight'].shape).toEqual([64]);
    disposeAll(weights);
  });

  testWithModels('the weights sit where the layout says: first and last values, and the skipped rotary tables', () => {
    const file = path.join(models!, 'stories260K.bin');
    const bytes = fs.readFileSync(file);
    const floats = new Float32Array(bytes.buffer.slice(bytes.byteOffset + 28, bytes.byteOffset + bytes.byteLength));
    const { weights } = loadLlama2c(file);
    expect(weights['model.embed_tokens.weight'].toFloat32Array()).toEqual(floats.subarray(0, 512 * 64));
    const up = weights['model.layers.4.mlp.up_proj.weight'].toFloat32Array();
    const norm = weights['model.norm.weight'].toFloat32Array();
    const freqStart = floats.length - 2 * 512 * 4;
    expect(norm).toEqual(floats.subarray(freqStart - 64, freqStart));
    expect(up).toEqual(floats.subarray(freqStart - 64 - up.length, freqStart - 64));
    // What lies after the final norm is freq_cis_real then freq_cis_imag: cos/sin(pos * 10000^(-2i/8)).
    for (const [pos, i] of [[1, 0], [7, 1], [300, 3], [511, 2]]) {
      const angle = pos * 10000 ** (-(2 * i) / 8);
      expect(floats[freqStart + pos * 4 + i]).toBeCloseTo(Math.cos(angle), 4);
      expect(floats[freqStart + 512 * 4 + pos * 4 + i]).toBeCloseTo(Math.sin(angle), 4);
    }
    disposeAll(weights);
  });

  testWithModels('the int8 checkpoint (version 2) dequantizes to within 0.007 of the float one', () => {
    const q8 = loadLlama2c(path.join(models!, 'stories260K-q8.bin'));
    const f = loadLlama2c(path.join(models!, 'stories260K.bin'));
    expect(q8.config).toEqual({ ...f.config, version: 2, groupSize: 8 });
    expect(Object.keys(q8.weights).sort()).toEqual(Object.keys(f.weights).sort());
    expect(q8.weights['lm_head.weight']).toBe(q8.weights['model.embed_tokens.weight']);
    let worst = 0;
    for (const [name, t] of Object.entries(f.weights)) {
      const a = t.toFloat32Array(), b = q8.weights[name].toFloat32Array();
      expect(q8.weights[name].shape).toEqual(t.shape);
      if (name.includes('norm')) expect(b).toEqual(a);  // norms stay float32 in version 2
      for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
    }
    expect(worst).toBeGreaterThan(0);
    expect(worst).toBeLessThan(0.007);
    disposeAll(q8.weights);
    disposeAll(f.weights);
  });

  testWithModels('a truncated or padded copy is an error naming the file and both byte counts', () => {
    for (const [name, size] of [['stories260K.bin', 1056540], ['stories260K-q8.bin', 392064]] as const) {
      const whole = fs.readFileSync(path.join(models!, name));
      expect(whole.byteLength).toBe(size);
      const cut = path.join(dir, `cut-${name}`);
      fs.writeFileSync(cut, whole.subarray(0, size - 100));
      const before = memory().numTensors;
      expect(() => loadLlama2c(cut)).toThrow(FileFormatError);
      expect(() => loadLlama2c(cut)).toThrow(new RegExp(`llama2\\.c checkpoint file ${cut.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: truncated: .* implies ${size} bytes but the file has ${size - 100}`));
      expect(memory().numTensors).toBe(before);
      fs.writeFileSync(cut, Buffer.concat([whole, Buffer.alloc(4)]));
      expect(() => readLlama2cConfig(cut)).toThrow(`has trailing bytes: the header`);
      expect(() => readLlama2cConfig(cut)).toThrow(`implies ${size} bytes but the file has ${size + 4}`);
    }
  });
});

// ---- small hand-made checkpoints, written in export.py's orders ----

interface Tiny { dim: number; hidden: number; layers: number; heads: number; kvHeads: number; vocab: number; seqLen: number }
const TINY: Tiny = { dim: 8, hidden: 12, layers: 2, heads: 2, kvHeads: 1, vocab: 16, seqLen: 4 };

/** Deterministic distinct values per tensor: tensor k, element i -> k + i / 1000. */
function tinyWeights(c: Tiny, shared: boolean) {
  const kv = (c.dim * c.kvHeads) / c.heads;
  let k = 0;
  const make = (n: number) => {
    k++;
    return Float32Array.from({ length: n }, (_, i) => k + (i % 200) / 1000 - 0.1);
  };
  const perLayer = (n: number) => Array.from({ length: c.layers }, () => make(n));
  return {
    emb: make(c.vocab * c.dim), attNorm: perLayer(c.dim), wq: perLayer(c.dim * c.dim), wk: perLayer(kv * c.dim),
    wv: perLayer(kv * c.dim), wo: perLayer(c.dim * c.dim), ffnNorm: perLayer(c.dim), w1: perLayer(c.hidden * c.dim),
    w2: perLayer(c.dim * c.hidden), w3: perLayer(c.hidden * c.dim), norm: make(c.dim), cls: shared ? null : make(c.vocab * c.dim),
  };
}
type TinyWeights = ReturnType<typeof tinyWeights>;

const i32 = (...v: number[]) => Buffer.from(new Int32Array(v).buffer);
const f32b = (...arrays: Float32Array[]) => Buffer.concat(arrays.map((a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength)));

function writeV0(file: string, c: Tiny, w: TinyWeights): void {
  const header = i32(c.dim, c.hidden, c.layers, c.heads, c.kvHeads, w.cls ? -c.vocab : c.vocab, c.seqLen);
  const freq = new Float32Array(c.seqLen * (c.dim / c.heads) / 2);
  fs.writeFileSync(file, Buffer.concat([header, f32b(w.emb, ...w.attNorm, ...w.wq, ...w.wk, ...w.wv, ...w.wo, ...w.ffnNorm,
    ...w.w1, ...w.w2, ...w.w3, w.norm, freq, freq, ...(w.cls ? [w.cls] : []))]));
}

function ak42Header(c: Tiny, version: number, shared: boolean, groupSize: number): Buffer {
  const h = Buffer.alloc(256);
  h.writeUInt32LE(0x616b3432, 0);
  h.writeInt32LE(version, 4);
  [c.dim, c.hidden, c.layers, c.heads, c.kvHeads, c.vocab, c.seqLen].forEach((v, i) => h.writeInt32LE(v, 8 + 4 * i));
  h.writeUInt8(shared ? 1 : 0, 36);
  if (version === 2) h.writeInt32LE(groupSize, 37);
  return h;
}

const matrices = (w: TinyWeights) => [w.emb, ...w.wq, ...w.wk, ...w.wv, ...w.wo, ...w.w1, ...w.w2, ...w.w3, ...(w.cls ? [w.cls] : [])];

function writeV1(file: string, c: Tiny, w: TinyWeights): void {
  fs.writeFileSync(file, Buffer.concat([ak42Header(c, 1, !w.cls, 0), f32b(...w.attNorm, ...w.ffnNorm, w.norm, ...matrices(w))]));
}

/** Q8_0 as export.py's quantize_q80: scale = max|w| / 127 per group, q = round(w / scale). */
function quantize(w: Float32Array, gs: number): { q: Int8Array; s: Float32Array } {
  const q = new Int8Array(w.length), s = new Float32Array(w.length / gs);
  for (let g = 0; g < s.length; g++) {
    let max = 0;
    for (let i = 0; i < gs; i++) max = Math.max(max, Math.abs(w[g * gs + i]));
    s[g] = max / 127;
    for (let i = 0; i < gs; i++) q[g * gs + i] = Math.round(w[g * gs + i] / s[g]);
  }
  return { q, s };
}

function writeV2(file: string, c: Tiny, w: TinyWeights, gs: number): Map<Float32Array, Float32Array> {
  const dequantized = new Map<Float32Array, Float32Array>();
  const parts = [ak42Header(c, 2, !w.cls, gs), f32b(...w.attNorm, ...w.ffnNorm, w.norm)];
  for (const m of matrices(w)) {
    const { q, s } = quantize(m, gs);
    parts.push(Buffer.from(q.buffer), f32b(s));
    dequantized.set(m, Float32Array.from(q, (v, i) => Math.fround(v * s[Math.floor(i / gs)])));
  }
  fs.writeFileSync(file, Buffer.concat(parts));
  return dequantized;
}

function expectTinyWeights(weights: Record<string, Tensor>, w: TinyWeights, c: Tiny, values = (a: Float32Array) => a): void {
  const kv = (c.dim * c.kvHeads) / c.heads;
  const check = (name: string, shape: number[], expected: Float32Array) => {
    expect(weights[name].shape).toEqual(shape);
    expect(weights[name].toFloat32Array()).toEqual(expected);
  };
  check('model.embed_tokens.weight', [c.vocab, c.dim], values(w.emb));
  check('model.norm.weight', [c.dim], w.norm);
  for (let l = 0; l < c.layers; l++) {
    const p = `model.layers.${l}.`;
    check(`${p}input_layernorm.weight`, [c.dim], w.attNorm[l]);
    check(`${p}post_attention_layernorm.weight`, [c.dim], w.ffnNorm[l]);
    check(`${p}self_attn.q_proj.weight`, [c.dim, c.dim], values(w.wq[l]));
    check(`${p}self_attn.k_proj.weight`, [kv, c.dim], values(w.wk[l]));
    check(`${p}self_attn.v_proj.weight`, [kv, c.dim], values(w.wv[l]));
    check(`${p}self_attn.o_proj.weight`, [c.dim, c.dim], values(w.wo[l]));
    check(`${p}mlp.gate_proj.weight`, [c.hidden, c.dim], values(w.w1[l]));
    check(`${p}mlp.down_proj.weight`, [c.dim, c.hidden], values(w.w2[l]));
    check(`${p}mlp.up_proj.weight`, [c.hidden, c.dim], values(w.w3[l]));
  }
  if (w.cls) check('lm_head.weight', [c.vocab, c.dim], values(w.cls));
  else expect(weights['lm_head.weight']).toBe(weights['model.embed_tokens.weight']);
}

describe('hand-made checkpoints of every version', () => {
  test.each([true, false])('legacy v0, shared classifier %s', (shared) => {
    const file = path.join(dir, `v0-${shared}.bin`);
    const w = tinyWeights(TINY, shared);
    writeV0(file, TINY, w);
    const { config, weights } = loadLlama2c(file);
    expect(config).toMatchObject({ vocabSize: 16, sharedClassifier: shared, version: 0, kvDim: 4, headDim: 4 });
    expectTinyWeights(weights, w, TINY);
    disposeAll(weights);
  });

  test.each([true, false])('"ak42" version 1 (float32), shared classifier %s', (shared) => {
    const file = path.join(dir, `v1-${shared}.bin`);
    const w = tinyWeights(TINY, shared);
    writeV1(file, TINY, w);
    const { config, weights } = loadLlama2c(file);
    expect(config).toMatchObject({ sharedClassifier: shared, version: 1, groupSize: null });
    expectTinyWeights(weights, w, TINY);
    disposeAll(weights);
  });

  test.each([true, false])('"ak42" version 2 (int8, groups of 4), shared classifier %s', (shared) => {
    const file = path.join(dir, `v2-${shared}.bin`);
    const w = tinyWeights(TINY, shared);
    const dequantized = writeV2(file, TINY, w, 4);
    const { config, weights } = loadLlama2c(file);
    expect(config).toMatchObject({ sharedClassifier: shared, version: 2, groupSize: 4 });
    expectTinyWeights(weights, w, TINY, (a) => dequantized.get(a)!);
    disposeAll(weights);
  });
});

describe('bad headers name the file and the problem', () => {
  const cases: [string, () => Buffer, RegExp][] = [
    ['a file shorter than the header', () => i32(1, 2, 3), /file is 12 bytes, shorter than the 28-byte header/],
    ['dim = 0', () => i32(0, 12, 2, 2, 1, 16, 4), /header dim = 0 must be positive/],
    ['a negative hidden_dim', () => i32(8, -12, 2, 2, 1, 16, 4), /header hidden_dim = -12 must be positive/],
    ['n_layers = 0', () => i32(8, 12, 0, 2, 1, 16, 4), /header n_layers = 0 must be positive/],
    ['vocab_size = 0', () => i32(8, 12, 2, 2, 1, 0, 4), /vocab_size = 0 must be non-zero/],
    ['seq_len = 0', () => i32(8, 12, 2, 2, 1, 16, 0), /header seq_len = 0 must be positive/],
    ['n_heads that does not divide dim', () => i32(8, 12, 2, 3, 1, 16, 4), /header n_heads = 3 does not divide dim = 8/],
    ['n_kv_heads that does not divide n_heads', () => i32(8, 12, 2, 4, 3, 16, 4), /header n_kv_heads = 3 does not divide n_heads = 4/],
    ['an odd head size', () => i32(6, 12, 2, 2, 1, 16, 4), /head size dim \/ n_heads = 3 is odd/],
    ['a short "ak42" header', () => ak42Header(TINY, 1, true, 0).subarray(0, 100), /file is 100 bytes, shorter than the 256-byte "ak42" header/],
    ['an unknown "ak42" version', () => ak42Header(TINY, 3, true, 0), /"ak42" version 3 is not supported/],
    ['a shared_classifier byte of 2', () => { const h = ak42Header(TINY, 1, true, 0); h[36] = 2; return h; }, /shared_classifier = 2 must be 0 or 1/],
    ['group_size = 0', () => ak42Header(TINY, 2, true, 0), /header group_size = 0 must be positive/],
    ['a group size that does not divide a matrix', () => ak42Header(TINY, 2, true, 5), /model.embed_tokens.weight has 128 values, not a multiple of group_size 5/],
    ['a header that implies more than the file holds', () => i32(8, 12, 2, 2, 1, 16, 4), /truncated: the header \(version 0, dim=8, hidden_dim=12, n_layers=2, n_heads=2, n_kv_heads=1, vocab_size=16, seq_len=4\) implies \d+ bytes but the file has 28/],
  ];
  test.each(cases)('%s', (_, bytes, message) => {
    const file = path.join(dir, 'bad.bin');
    fs.writeFileSync(file, bytes());
    let caught: unknown;
    try {
      loadLlama2c(file);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(FileFormatError);
    expect((caught as Error).message).toContain(`llama2.c checkpoint file ${file}: `);
    expect((caught as Error).message).toMatch(message);
  });
});
