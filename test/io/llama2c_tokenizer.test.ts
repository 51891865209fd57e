/**
 * The llama2.c tokenizer on stories260K's tok512.bin: golden ids from an independent Python
 * transcription of run.c's encode (test/fixtures/io/llama2c_encode_reference.py), round trips,
 * llama2.c's decode/print rules, and bad files.
 */
import * as fs from 'fs';
import * as path from 'path';
import { BOS_ID, EOS_ID, FileFormatError, Llama2cTokenizer } from '../../lib/io';
import { scratchDir, sharedModels } from './helpers';

const models = sharedModels();

const tokPath = models ? path.join(models!, 'tok512.bin') : '';
// Specs that read ../shared skip, saying why, where it is absent (only they use tok).
const testWithTokenizer = models ? test : test.skip;
if (!models) console.log('skipping the specs that read ../shared/models/stories260K/tok512.bin: it is absent here');
const tok = (models ? Llama2cTokenizer.load(tokPath, 512) : null) as Llama2cTokenizer;
const { dir, cleanup } = scratchDir('tok');
afterAll(cleanup);

interface GoldenCase { text?: string; bytes_hex?: string; bos: boolean; eos: boolean; ids: number[] }
const golden = JSON.parse(fs.readFileSync(path.resolve(__dirname, '../fixtures/io/llama2c_encode_golden.json'), 'utf8')) as {
  sha256: string; cases: GoldenCase[];
};

/** llama2.c's merge loop as written in run.c: rescan every pair, strict '>' from -1e10. */
function naiveMerge(t: Llama2cTokenizer, tokens: number[]): number[] {
  const key = (id: number) => Buffer.from(t.pieces[id]).toString('latin1');
  const out = [...tokens];
  for (;;) {
    let best = -1e10, bestId = -1, bestIdx = -1;
    for (let i = 0; i + 1 < out.length; i++) {
      const id = t.lookup(Buffer.from(key(out[i]) + key(out[i + 1]), 'latin1'));
      if (id !== -1 && t.scores[id] > best) [best, bestId, bestIdx] = [t.scores[id], id, i];
    }
    if (bestIdx === -1) return out;
    out.splice(bestIdx, 2, bestId);
  }
}

describe('encode', () => {
  testWithTokenizer('matches the golden ids of the independent reference, case by case', () => {
    const { createHash } = require('crypto') as typeof import('crypto');
    expect(createHash('sha256').update(fs.readFileSync(tokPath)).digest('hex')).toBe(golden.sha256);
    for (const c of golden.cases) {
      const input = c.text ?? Buffer.from(c.bytes_hex!, 'hex');
      expect({ input: c.text ?? c.bytes_hex, ids: tok.encode(input, { bos: c.bos, eos: c.eos }) }).toEqual({ input: c.text ?? c.bytes_hex, ids: c.ids });
    }
  });

  testWithTokenizer('"Once upon a time": BOS first, decodes back to the text', () => {
    const ids = tok.encode('Once upon a time');
    expect(ids[0]).toBe(BOS_ID);
    expect(ids).toEqual([1, 403, 407, 261, 378]);
    expect(ids.slice(1).map((id) => Buffer.from(tok.pieces[id]).toString())).toEqual([' Once', ' upon', ' a', ' time']);
    expect(tok.decodeAll(ids)).toBe('Once upon a time');
    // As llama2.c prints it, token by token: the leading space right after BOS is dropped.
    expect(ids.slice(1).map((id, i) => tok.decode(ids[i], id)).join('')).toBe('Once upon a time');
  });

  testWithTokenizer('options: no BOS, EOS at the end; empty text is just BOS (no dummy prefix)', () => {
    expect(tok.encode('Once upon a time', { bos: false, eos: true })).toEqual([403, 407, 261, 378, EOS_ID]);
    expect(tok.encode('')).toEqual([BOS_ID]);
    expect(tok.encode('', { bos: false })).toEqual([]);
    expect(tok.encode('', { bos: false, eos: true })).toEqual([EOS_ID]);
  });

  testWithTokenizer('round trips text through decodeAll, including characters that fall back to bytes', () => {
    const texts = golden.cases.filter((c) => c.text !== undefined).map((c) => c.text!);
    texts.push('Once upon a time, there was a little girl named Lily. She loved to play outside in the park.', '🦙🦙 x', '\u0000nul', 'é');
    for (const text of texts) {
      expect(tok.decodeAll(tok.encode(text))).toBe(text);
      expect(tok.decodeAll(tok.encode(text, { bos: false, eos: true }))).toBe(text);
    }
  });

  testWithTokenizer('the heap merge agrees with run.c\'s rescanning loop on random text', () => {
    const alphabet = ['a', 'e', 't', 'h', 'o', 'n', ' ', ' ', 'Th', 'in', '.', ',', 'é', '’', '\n', 'x', 'q', 'L', '🦙'];
    let s = 12345;
    const rand = () => ((s = (s * 1103515245 + 12345) >>> 0) >>> 8) / 16777216;
    for (let trial = 0; trial < 150; trial++) {
      const text = Array.from({ length: 1 + Math.floor(rand() * 60) }, () => alphabet[Math.floor(rand() * alphabet.length)]).join('');
      const ids = tok.encode(text);
      // Start from the same pre-merge sequence as encode (characters or byte fallbacks), then merge naively.
      const chars: number[] = [BOS_ID, tok.lookup(' ')];
      for (const ch of text) {
        const id = tok.lookup(ch);
        if (id >= 0) chars.push(id);
        else for (const b of Buffer.from(ch)) chars.push(b + 3);
      }
      expect(ids).toEqual(naiveMerge(tok, chars));
      expect(tok.decodeAll(ids)).toBe(text);
    }
  });

  testWithTokenizer('a long text encodes in reasonable time and round trips', () => {
    const text = 'Once upon a time, there was a little girl named Lily. '.repeat(400);
    const ids = tok.encode(text);
    expect(ids.length).toBeLessThan(text.length / 2);
    expect(tok.decodeAll(ids)).toBe(text);
  });
});

describe('decode, as llama2.c prints it', () => {
  testWithTokenizer('strips the leading space only after BOS, maps <0xXX> to the byte, drops unprintable lone bytes', () => {
    const once = tok.lookup(' Once');
    expect(tok.decode(BOS_ID, once)).toBe('Once');
    expect(tok.decode(261, once)).toBe(' Once');
    expect(tok.decode(BOS_ID, tok.lookup(' '))).toBe('');
    expect(tok.decode(5, 3 + 0x41)).toBe('A');              // <0x41>
    expect(tok.decode(5, 3 + 0x0a)).toBe('\n');             // whitespace prints
    expect(tok.decode(5, 3 + 0x07)).toBe('');               // a bell does not
    expect(tok.decode(5, 3 + 0xe2)).toBe('');               // nor half a UTF-8 character
    expect(Array.from(tok.piece(5, 3 + 0xe2))).toEqual([0xe2]);
    expect(tok.decode(5, BOS_ID)).toBe('\n<s>\n');
    expect(tok.decode(5, 0)).toBe('<unk>');
  });

  testWithTokenizer('decodeAll joins bytes before reading UTF-8, skips BOS/EOS unless asked', () => {
    const ids = tok.encode('日本', { eos: true });
    expect(ids.some((id) => id >= 3 && id < 259)).toBe(true);  // byte fallbacks
    expect(tok.decodeAll(ids)).toBe('日本');
    expect(tok.decodeAll(ids, { keepSpecial: true })).toBe('\n<s>\n日本\n</s>\n');
    expect(tok.decodeAll([])).toBe('');
    expect(() => tok.decodeAll([512])).toThrow(/token 512 is outside 0\.\.511/);
    expect(() => tok.decode(1, -1)).toThrow(RangeError);
  });
});

describe('loading', () => {
  testWithTokenizer('reads the vocabulary: 512 tokens, specials and byte tokens where llama2.c expects them', () => {
    expect(tok.vocabSize).toBe(512);
    expect(tok.maxTokenLength).toBe(7);
    expect(Buffer.from(tok.pieces[0]).toString()).toBe('<unk>');
    expect(Buffer.from(tok.pieces[1]).toString()).toBe('\n<s>\n');
    expect(Buffer.from(tok.pieces[2]).toString()).toBe('\n</s>\n');
    expect(Buffer.from(tok.pieces[3]).toString()).toBe('<0x00>');
    expect(Buffer.from(tok.pieces[258]).toString()).toBe('<0xFF>');
    expect(Llama2cTokenizer.load(tokPath).vocabSize).toBe(512);  // without a count: to the end of the file
  });

  testWithTokenizer('bad files name the file and the problem', () => {
    const whole = fs.readFileSync(tokPath);
    const file = path.join(dir, 'tok.bin');
    const expectError = (bytes: Buffer, vocab: number | undefined, message: RegExp) => {
      fs.writeFileSync(file, bytes);
      let caught: unknown;
      try {
        Llama2cTokenizer.load(file, vocab);
      } catch (e) {
        caught = e;
      }
      expect(caught).toBeInstanceOf(FileFormatError);
      expect((caught as Error).message).toContain(`llama2.c tokenizer file ${file}: `);
      expect((caught as Error).message).toMatch(message);
    };
    expectError(whole, 511, /11 bytes follow the 511 tokens/);
    expectError(whole, 513, /truncated: token 512 needs its score and length at bytes 6227\.\.6235 but the file has 6227 bytes \(expected 513 tokens\)/);
    expectError(whole.subarray(0, 6000), undefined, /truncated: token \d+ needs/);
    expectError(whole.subarray(0, 2), undefined, /file is 2 bytes, shorter than the 4-byte max_token_length/);
    const zeroMax = Buffer.from(whole);
    zeroMax.writeInt32LE(0, 0);
    expectError(zeroMax, undefined, /max_token_length = 0 must be positive/);
    const badLength = Buffer.from(whole);
    badLength.writeInt32LE(-3, 8);
    expectError(badLength, undefined, /token 0 has length -3, outside 0\.\.max_token_length \(7\)/);
    badLength.writeInt32LE(100, 8);
    expectError(badLength, undefined, /token 0 has length 100/);
  });
});

test('a hand-built vocabulary: ties merge leftmost, scores at -1e10 never merge, missing " " is an error', () => {
  const p = (s: string) => Buffer.from(s, 'latin1');
  const pieces = [p('<unk>'), p('<s>'), p('</s>'), ...Array.from({ length: 256 }, (_, b) => p(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`)),
    p(' '), p('a'), p('b'), p('ab'), p('ba'), p('aa'), p(' a')];
  const base = 259;
  const scores = new Float32Array(pieces.length);
  scores[base + 3] = -1;      // ab
  scores[base + 4] = -1;      // ba: same score as ab
  scores[base + 5] = -1e10;   // aa: never merged (llama2.c's best_score starts at -1e10, strictly greater wins)
  scores[base + 6] = -5;      // ' a'
  const t = new Llama2cTokenizer(pieces, scores, 2);
  // " aba": ' ' a b a -> leftmost of the tied ab/ba merges is (a, b) -> ' ' ab a -> nothing else merges
  // (' a' needs the a that became ab).
  expect(t.encode('aba', { bos: false })).toEqual([base, base + 3, base + 1]);
  expect(t.encode('aa', { bos: false })).toEqual([base + 6, base + 1]);
  expect(t.encode('c', { bos: false })).toEqual([base, 3 + 0x63]);  // no 'c' piece: byte fallback <0x63>
  const noSpace = new Llama2cTokenizer(pieces.slice(0, base), new Float32Array(base), 6);
  expect(() => noSpace.encode('x')).toThrow(/no " " token for the dummy prefix/);
  expect(noSpace.encode('')).toEqual([BOS_ID]);
});
