/**
 * llama2.c checkpoints and tokenizers: small ones made here (legacy v0, "ak42" v1 and int8 v2, shared
 * and unshared classifiers; a byte-fallback tokenizer), and stories260K's from ../shared when present.
 * Mutations: header int32 fields set to edge values, bit flips, truncations, extensions.
 */
import * as fs from 'fs';
import * as path from 'path';
import { Llama2cTokenizer, loadLlama2c } from '../../../lib';
import { llama2cLayout, parseLlama2cHeader } from '../../../lib/io/llama2c_config';
import { mutateBytes, setInt32, type Rng } from '../mutate';
import { check, type FuzzFormat, samplesIn, sharedStories } from './format';

const TINY = { dim: 8, hidden: 12, layers: 2, heads: 2, kvHeads: 1, vocab: 16, seqLen: 4 };

function header(version: 0 | 1 | 2, shared: boolean): Buffer {
  const dims = [TINY.dim, TINY.hidden, TINY.layers, TINY.heads, TINY.kvHeads, TINY.vocab, TINY.seqLen];
  if (version === 0) return Buffer.from(new Int32Array(dims.map((v, i) => (i === 5 && !shared ? -v : v))).buffer);
  const h = Buffer.alloc(256);
  h.writeUInt32LE(0x616b3432, 0);
  h.writeInt32LE(version, 4);
  dims.forEach((v, i) => h.writeInt32LE(v, 8 + 4 * i));
  h.writeUInt8(shared ? 1 : 0, 36);
  if (version === 2) h.writeInt32LE(4, 37);
  return h;
}

/** A checkpoint of the header's exact size, its body small deterministic floats (their bytes, for int8 too). */
function writeTinyCheckpoint(file: string, version: 0 | 1 | 2, shared: boolean): void {
  const head = header(version, shared);
  const probe = Buffer.concat([head, Buffer.alloc(256)]);
  const { expectedBytes } = llama2cLayout(file, parseLlama2cHeader(file, probe, 1 << 30));
  const body = Buffer.alloc(expectedBytes - head.length);
  for (let i = 0; i + 4 <= body.length; i += 4) body.writeFloatLE(((i * 7919) % 200) / 1000 - 0.1, i);
  fs.writeFileSync(file, Buffer.concat([head, body]));
}

/** Tokens <unk>, <s>, </s>, the 256 byte tokens, then " " and a few merges: every text encodes. */
function writeTinyTokenizer(file: string): void {
  const pieces = ['<unk>', '<s>', '</s>', ...Array.from({ length: 256 }, (_, b) => `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`),
    ' ', 'h', 'e', 'l', 'o', 'he', 'll', 'hell', 'hello', ' hello'];
  const parts = [Buffer.from(Int32Array.of(8).buffer)];
  pieces.forEach((p, i) => {
    const entry = Buffer.alloc(8);
    entry.writeFloatLE(i < 259 ? 0 : -i, 0);
    entry.writeInt32LE(Buffer.byteLength(p, 'latin1'), 4);
    parts.push(entry, Buffer.from(p, 'latin1'));
  });
  fs.writeFileSync(file, Buffer.concat(parts));
}

function copyShared(dir: string, names: string[]): string[] {
  const shared = sharedStories();
  if (shared === null) return [`../shared/models/stories260K is absent: fuzzing only the small ${names.length > 1 ? 'checkpoints' : 'tokenizer'} made here`];
  for (const n of names) fs.copyFileSync(path.join(shared, n), path.join(dir, n));
  return [];
}

export const llama2cCheckpointFormat: FuzzFormat = {
  name: 'llama2c checkpoint',
  makeSamples(dir) {
    writeTinyCheckpoint(path.join(dir, 'tiny-v0-shared.bin'), 0, true);
    writeTinyCheckpoint(path.join(dir, 'tiny-v0-unshared.bin'), 0, false);
    writeTinyCheckpoint(path.join(dir, 'tiny-v1-unshared.bin'), 1, false);
    writeTinyCheckpoint(path.join(dir, 'tiny-v2-shared.bin'), 2, true);
    return copyShared(dir, ['stories260K.bin', 'stories260K-q8.bin']);
  },
  makeCase(rng, samplesDir, caseDir) {
    const sample = rng.pick(samplesIn(samplesDir));
    const src = fs.readFileSync(sample);
    const headerBytes = src.readUInt32LE(0) === 0x616b3432 ? 41 : 28;
    const m = rng.chance(0.4) ? setInt32(rng, src, headerBytes) : mutateBytes(rng, src, headerBytes);
    const file = path.join(caseDir, path.basename(sample));
    fs.writeFileSync(file, m.bytes);
    return {
      what: `${path.basename(sample)}: ${m.what}`,
      file,
      load: () => {
        const { config, weights } = loadLlama2c(file);
        for (const k of ['dim', 'hiddenDim', 'nLayers', 'nHeads', 'nKvHeads', 'vocabSize', 'seqLen'] as const)
          check(Number.isSafeInteger(config[k]) && config[k] > 0, `config.${k} = ${config[k]}`);
        check(weights['model.embed_tokens.weight'].shape.join() === `${config.vocabSize},${config.dim}`, 'embed_tokens shape');
        for (const t of new Set(Object.values(weights))) t.dispose();
      },
    };
  },
};

export const llama2cTokenizerFormat: FuzzFormat = {
  name: 'llama2c tokenizer',
  makeSamples(dir) {
    writeTinyTokenizer(path.join(dir, 'tiny.bin'));
    return copyShared(dir, ['tok512.bin']);
  },
  makeCase(rng, samplesDir, caseDir) {
    const sample = rng.pick(samplesIn(samplesDir));
    const src = fs.readFileSync(sample);
    const vocabSize = Llama2cTokenizer.load(sample).vocabSize;
    // Token length fields sit anywhere: int32 edits over the first tokens, byte edits over the file.
    const m = rng.chance(0.3) ? setInt32(rng, src, 256) : mutateBytes(rng, src, 64);
    const file = path.join(caseDir, path.basename(sample));
    fs.writeFileSync(file, m.bytes);
    const withCount = rng.chance(0.5);
    return {
      what: `${path.basename(sample)}${withCount ? ` (vocabSize ${vocabSize})` : ''}: ${m.what}`,
      file,
      load: () => {
        const t = Llama2cTokenizer.load(file, withCount ? vocabSize : undefined);
        check(t.vocabSize > 0 && t.scores.length === t.vocabSize, `${t.vocabSize} pieces, ${t.scores.length} scores`);
        check(t.pieces.every((p) => p.byteLength <= t.maxTokenLength), 'a piece longer than max_token_length');
        check(t.decode(Array.from({ length: t.vocabSize }, (_, i) => i)).length >= 0, 'decode');
      },
    };
  },
};
