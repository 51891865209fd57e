/**
 * Byte-level BPE training: the merges match the independent Python trainer that made the gpt2 fixture
 * (test/fixtures/io/make_tokenizer_fixtures.py: same corpus, same tie rule); the trained tokenizer.json
 * loads into HfTokenizer, round-trips any text (unicode, whitespace, bytes outside the corpus), puts
 * the special tokens where asked; minFrequency; bad options.
 */
import * as fs from 'fs';
import * as path from 'path';
import { bytesToUnicode, HfTokenizer, loadTokenizer, saveTrainedBpe, trainByteLevelBpe } from '../../lib/io';
import { scratchDir } from './helpers';

// The corpus of make_tokenizer_fixtures.py, split into lines with their newlines as it does.
const CORPUS = `Once upon a time there was a little llama. The llama liked to walk in the hills.
It's a lovely day, isn't it? We'll see what they've done. I'm sure you'd like it.
One day the little llama met another llama and they walked together for 12345 steps.
Hello world! Hello again, world. Tokenizers split the text into tokens.
The quick brown fox jumps over the lazy dog. Numbers like 3.14 and 2024 appear too.
`;
const LINES = CORPUS.match(/[^\n]*\n/g) as string[];
const FIXTURE = path.resolve(__dirname, '../fixtures/io/tokenizers/gpt2/tokenizer.json');
const { dir: scratch, cleanup } = scratchDir('bpe-train');
afterAll(cleanup);

describe('trainByteLevelBpe', () => {
  test('learns the same 80 merges, in the same order, as the Python reference trainer', () => {
    const fixture = JSON.parse(fs.readFileSync(FIXTURE, 'utf8')) as { model: { merges: string[] } };
    const trained = trainByteLevelBpe(LINES, { vocabSize: 256 + 80, minFrequency: 1 });
    expect(trained.merges.map(([a, b]) => `${a} ${b}`)).toEqual(fixture.model.merges);
  });

  test('the byte alphabet is GPT-2\'s: 256 distinct printable characters, printable ASCII mapped to itself', () => {
    const alphabet = bytesToUnicode();
    expect(new Set(alphabet).size).toBe(256);
    expect(alphabet[0x41]).toBe('A');
    expect(alphabet[0x20]).toBe('\u0120');  // Ġ, the space
    expect(alphabet[0x0a]).toBe('\u010a');  // Ċ, the newline
  });

  const trained = trainByteLevelBpe([CORPUS, CORPUS.toUpperCase()], { vocabSize: 400, specialTokens: ['<s>', '</s>', '<pad>'], bosToken: '<s>', eosToken: '</s>', padToken: '<pad>' });
  const tok = new HfTokenizer(trained.tokenizer, trained.config);

  test('its tokenizer.json loads: specials after the merges, BOS added by default, vocabSize counts them', () => {
    const merged = 256 + trained.merges.length;
    expect(trained.merges.length).toBeGreaterThan(50);
    expect(trained.merges.length).toBeLessThanOrEqual(400 - 259);
    expect([tok.bosId, tok.eosId, tok.padId]).toEqual([merged, merged + 1, merged + 2]);
    expect(tok.vocabSize).toBe(merged + 3);
    expect(tok.encode('the llama')[0]).toBe(tok.bosId);
    expect(tok.encode('the llama', { bos: false, eos: true }).at(-1)).toBe(tok.eosId);
  });

  test('round-trips text it never saw: unicode, emoji, control bytes, runs of whitespace', () => {
    for (const text of ['', 'x', 'the llama walked', 'caf\u00e9 \u65e5\u672c\u8a9e \u{1f999}', 'tabs\tand\r\nCRLF  ', '\u0000\u0001\u007f', 'llamallamallama 12345'])
      expect(tok.decode(tok.encode(text))).toBe(text);
  });

  test('compresses the text it was trained on: fewer tokens than bytes', () => {
    const ids = tok.encode(LINES[0], { bos: false });
    expect(ids.length).toBeLessThan(Buffer.byteLength(LINES[0]) / 2);
  });

  test('saved and loaded from a folder, it encodes the same', () => {
    const dir = path.join(scratch, 'tok');
    saveTrainedBpe(trained, dir);
    const loaded = loadTokenizer(dir);
    expect(loaded.encode(CORPUS)).toEqual(tok.encode(CORPUS));
    expect(loaded.padId).toBe(tok.padId);
  });

  test('stops before the vocabulary is full when no pair occurs minFrequency times', () => {
    expect(trainByteLevelBpe(['abcdef'], { vocabSize: 1000 }).merges).toEqual([]);
    expect(trainByteLevelBpe(['abcdef'], { vocabSize: 1000, minFrequency: 1 }).merges.length).toBe(5);
    expect(trainByteLevelBpe(['ab ab ab'], { vocabSize: 1000, minFrequency: 3 }).merges).toEqual([['a', 'b']]);
  });

  test('bad options name the problem', () => {
    expect(() => trainByteLevelBpe(['a'], { vocabSize: 100 })).toThrow(/vocabSize must be an integer in \[256, .*got 100/);
    expect(() => trainByteLevelBpe(['a'], { vocabSize: 257, specialTokens: ['<s>', '</s>'] })).toThrow(/\[258, .*got 257/);
    expect(() => trainByteLevelBpe(['a'], { vocabSize: 300, specialTokens: ['<s>', '<s>'] })).toThrow(/duplicates/);
    expect(() => trainByteLevelBpe(['a'], { vocabSize: 300, bosToken: '<s>' })).toThrow(/bosToken "<s>" is not one of specialTokens/);
    expect(() => trainByteLevelBpe([3 as unknown as string], { vocabSize: 300 })).toThrow(/expected texts to be strings, got number/);
  });
});
