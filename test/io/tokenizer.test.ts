/**
 * The Tokenizer interface: HF tokenizer.json (through @huggingface/tokenizers) on two tiny fixtures,
 * a GPT-2-style byte-level BPE and a Llama-style sentencepiece BPE with byte fallback, whose golden ids
 * come from an independent Python reference (test/fixtures/io/make_tokenizer_fixtures.py); round
 * trips, unicode, empty strings, special tokens, BOS/EOS options, streaming pieces; the llama2.c
 * tokenizer through the same interface; loadTokenizer's choice by file; bad inputs.
 */
import * as fs from 'fs';
import * as path from 'path';
import { FileFormatError, HfTokenizer, Llama2cTokenizer, loadTokenizer, type Tokenizer } from '../../lib/io';
import { scratchDir, sharedModels } from './helpers';

const FIXTURES = path.resolve(__dirname, '../fixtures/io');
const TOKENIZERS = path.join(FIXTURES, 'tokenizers');
const golden = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'tokenizers_golden.json'), 'utf8')) as Record<'gpt2' | 'llama', { text: string; ids: number[] }[]>;
const { dir: scratch, cleanup } = scratchDir('tokenizer');
afterAll(cleanup);

const gpt2 = loadTokenizer(path.join(TOKENIZERS, 'gpt2')) as HfTokenizer;
const llama = loadTokenizer(path.join(TOKENIZERS, 'llama', 'tokenizer.json')) as HfTokenizer;
const SPECIAL = { gpt2: ['<|endoftext|>'], llama: ['<unk>', '<s>', '</s>'] };

describe.each(['gpt2', 'llama'] as const)('HF tokenizer.json: %s', (name) => {
  const tok = name === 'gpt2' ? gpt2 : llama;

  test('encodes every text to the reference ids (no BOS/EOS asked)', () => {
    for (const { text, ids } of golden[name]) expect({ text, ids: tok.encode(text, { bos: false, eos: false }) }).toEqual({ text, ids });
  });

  test('decode(encode(text)) === text for texts without special tokens, unicode and whitespace included', () => {
    for (const { text } of golden[name]) {
      if (SPECIAL[name].some((s) => text.includes(s))) continue;
      expect(tok.decode(tok.encode(text))).toBe(text);
      expect(tok.decode(tok.encode(text, { bos: true, eos: true }))).toBe(text);
    }
  });

  test('special tokens in the text become their ids; decode skips them unless keepSpecial', () => {
    const text = name === 'gpt2' ? 'hello <|endoftext|> world' : 'hello</s>world';
    const ids = tok.encode(text, { bos: false });
    expect(ids).toContain(tok.eosId);
    expect(tok.decode(ids, { keepSpecial: true })).toContain(SPECIAL[name][SPECIAL[name].length - 1]);
    expect(tok.decode(ids)).not.toContain('<');
  });

  test('streaming pieces: decodeToken over a sequence spells decode of the whole (ASCII text)', () => {
    const text = 'Hello world! It\'s a lovely day, isn\'t it? 12345';
    const ids = tok.encode(text, { bos: true });
    let out = '';
    for (let i = 1; i < ids.length; i++) out += tok.decodeToken(ids[i - 1], ids[i]);
    expect(out).toBe(text);
  });

  test('ids out of range, fractional or not numbers are a RangeError naming the op', () => {
    expect(() => tok.decode([0, tok.vocabSize])).toThrow(new RegExp(`HfTokenizer.decode: id ${tok.vocabSize} at index 1 is outside 0..${tok.vocabSize - 1}`));
    expect(() => tok.decode([-1])).toThrow(/id -1 at index 0/);
    expect(() => tok.decode([1.5])).toThrow(/id 1.5 at index 0/);
    expect(() => tok.decode([NaN])).toThrow(/id NaN/);
    expect(() => tok.decodeToken(0, 1e9)).toThrow(/HfTokenizer.decodeToken: id 1000000000/);
    expect(() => tok.encode(5 as unknown as string)).toThrow(/HfTokenizer.encode: expected a string, got number/);
  });
});

describe('special ids and defaults', () => {
  test('GPT-2: BOS = EOS = <|endoftext|> from tokenizer_config.json, nothing added by default', () => {
    const eot = gpt2.lookup('<|endoftext|>');
    expect(eot).toBe(gpt2.vocabSize - 1);
    expect([gpt2.bosId, gpt2.eosId, gpt2.padId]).toEqual([eot, eot, null]);
    expect(gpt2.encode('hello')).toEqual(gpt2.encode('hello', { bos: false, eos: false }));
    expect(gpt2.encode('hello')).not.toContain(eot);
    expect(gpt2.encode('hi', { bos: true, eos: true })).toEqual([eot, ...gpt2.encode('hi'), eot]);
    expect(gpt2.encode('')).toEqual([]);
  });

  test('Llama: <s> prepended by default (add_bos_token), </s> on request; empty text is just BOS', () => {
    expect([llama.bosId, llama.eosId, llama.padId]).toEqual([1, 2, null]);
    const plain = llama.encode('hello world', { bos: false });
    expect(llama.encode('hello world')).toEqual([1, ...plain]);
    expect(llama.encode('hello world', { eos: true })).toEqual([1, ...plain, 2]);
    expect(llama.encode('')).toEqual([1]);
    expect(llama.decode([1])).toBe('');
    expect(llama.decode([])).toBe('');
  });

  test('without tokenizer_config.json, BOS comes from the post-processor template', () => {
    const dir = path.join(scratch, 'llama-no-config');
    fs.mkdirSync(dir);
    fs.copyFileSync(path.join(TOKENIZERS, 'llama', 'tokenizer.json'), path.join(dir, 'tokenizer.json'));
    const t = loadTokenizer(dir);
    expect([t.bosId, t.eosId, t.padId]).toEqual([1, null, null]);
    expect(t.encode('hello')).toEqual(llama.encode('hello'));
    expect(() => t.encode('x', { eos: true })).toThrow(/eos was asked for but the tokenizer has no EOS token/);
  });

  test('bytes outside the vocabulary fall back to <0xNN> tokens (Llama) and come back whole', () => {
    const ids = llama.encode('🦙', { bos: false });
    const bytes = [...Buffer.from('🦙', 'utf8')].map((b) => llama.lookup(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`));
    expect(ids.slice(-4)).toEqual(bytes);
    expect(llama.decode(ids)).toBe('🦙');
  });
});

describe('llama2.c tokenizer through the interface', () => {
  const models = sharedModels();
  const maybe = models ? test : test.skip;
  maybe('loadTokenizer reads tok512.bin; encode/decode(ids)/decodeToken keep llama2.c semantics', () => {
    const t: Tokenizer = loadTokenizer(path.join(models!, 'tok512.bin'));
    expect(t).toBeInstanceOf(Llama2cTokenizer);
    expect([t.vocabSize, t.bosId, t.eosId, t.padId]).toEqual([512, 1, 2, null]);
    const ids = t.encode('Once upon a time, there was a llama.');
    expect(ids[0]).toBe(1);
    expect(t.decode(ids)).toBe('Once upon a time, there was a llama.');
    expect(t.decode([...ids, 2])).toBe('Once upon a time, there was a llama.');
    const l = t as Llama2cTokenizer;
    expect(t.decodeToken!(1, ids[1])).toBe(l.decode(1, ids[1]));  // the old two-argument decode still works
    expect(loadTokenizer(models!, {})).toBeInstanceOf(Llama2cTokenizer);  // a folder holding one tok*.bin
  });

  test('a hand-made llama2.c file is told apart from JSON by its first byte, whatever its name', () => {
    const pieces = ['<unk>', '<s>', '</s>', ' ', 'a', 'b', 'ab'];
    const parts: Buffer[] = [Buffer.from(Int32Array.of(5).buffer)];
    pieces.forEach((p, i) => {
      const head = Buffer.alloc(8);
      head.writeFloatLE(i);
      head.writeInt32LE(Buffer.byteLength(p), 4);
      parts.push(head, Buffer.from(p));
    });
    const file = path.join(scratch, 'vocab.dat');
    fs.writeFileSync(file, Buffer.concat(parts));
    const t = loadTokenizer(file);
    expect(t).toBeInstanceOf(Llama2cTokenizer);
    expect(t.decode(t.encode('ab'))).toBe('ab');
    const json = path.join(scratch, 'tok.anything');
    fs.copyFileSync(path.join(TOKENIZERS, 'gpt2', 'tokenizer.json'), json);
    expect(loadTokenizer(json)).toBeInstanceOf(HfTokenizer);
  });
});

describe('loadTokenizer errors name the file and the problem', () => {
  test('tokenizer.model (sentencepiece) is refused as unsupported, as a file or in a folder', () => {
    const dir = path.join(scratch, 'sp');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'tokenizer.model'), Buffer.from([0x0a, 0x0b]));
    expect(() => loadTokenizer(dir)).toThrow(/tokenizer\.model is a sentencepiece model.*not supported; use the model's tokenizer\.json/);
    expect(() => loadTokenizer(path.join(dir, 'tokenizer.model'))).toThrow(/not supported/);
  });

  test('missing paths, empty folders, bad JSON, JSON without a model, an unknown model type', () => {
    expect(() => loadTokenizer(path.join(scratch, 'nope.json'))).toThrow(/loadTokenizer: cannot read .*nope\.json/);
    const empty = path.join(scratch, 'empty');
    fs.mkdirSync(empty);
    expect(() => loadTokenizer(empty)).toThrow(/has no tokenizer\.json and no llama2\.c tok\*\.bin/);
    const bad = path.join(scratch, 'bad.json');
    fs.writeFileSync(bad, '{"model": {"type": "BPE",\n "vocab": }');
    expect(() => loadTokenizer(bad)).toThrow(FileFormatError);
    expect(() => loadTokenizer(bad)).toThrow(/HF tokenizer file .*bad\.json: is not valid JSON at line 2 column 11/);
    fs.writeFileSync(bad, '[]');
    expect(() => loadTokenizer(bad)).toThrow(/bad\.json: must hold a JSON object/);
    fs.writeFileSync(bad, '{"decoder": null}');
    expect(() => loadTokenizer(bad)).toThrow(/bad\.json: has no "model" object/);
    fs.writeFileSync(bad, '{"model": {"type": "NoSuchModel", "vocab": {}}, "decoder": null, "added_tokens": []}');
    expect(() => loadTokenizer(bad)).toThrow(/HF tokenizer file .*bad\.json: model "type" must be one of "BPE", "WordPiece", "Unigram", got "NoSuchModel"/);
    fs.writeFileSync(bad, '{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": "nope"}, "decoder": null, "added_tokens": []}');
    expect(() => loadTokenizer(bad)).toThrow(/HF tokenizer file .*bad\.json: cannot be built/);
  });

  test('a tokenizer_config naming a token the vocabulary lacks, or not an object', () => {
    const dir = path.join(scratch, 'bad-config');
    fs.mkdirSync(dir);
    fs.copyFileSync(path.join(TOKENIZERS, 'gpt2', 'tokenizer.json'), path.join(dir, 'tokenizer.json'));
    fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), '{"bos_token": {"content": "<nope>"}}');
    expect(() => loadTokenizer(dir)).toThrow(new FileFormatError('HF tokenizer config', path.join(dir, 'tokenizer_config.json'),
      `bos_token "<nope>" is not in the vocabulary of ${path.join(dir, 'tokenizer.json')}`));
    fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), '"x"');
    expect(() => loadTokenizer(dir)).toThrow(/HF tokenizer config file .*tokenizer_config\.json: must hold a JSON object/);
  });
});

describe('tokenizer.json models that would load and then tokenize nothing, or guess', () => {
  const edited = (change: (json: { model: Record<string, unknown>; added_tokens: unknown[] }) => void): string => {
    const json = JSON.parse(fs.readFileSync(path.join(TOKENIZERS, 'gpt2', 'tokenizer.json'), 'utf8'));
    change(json);
    const file = path.join(scratch, `edited-${Math.random().toString(36).slice(2)}.json`);
    fs.writeFileSync(file, JSON.stringify(json));
    return file;
  };

  test('an empty vocabulary is refused (it encoded every text to no ids), added tokens or not', () => {
    for (const keepAdded of [true, false]) {
      const file = edited((j) => {
        j.model.vocab = {};
        j.model.merges = [];
        if (!keepAdded) j.added_tokens = [];
      });
      expect(() => loadTokenizer(file)).toThrow(FileFormatError);
      expect(() => loadTokenizer(file)).toThrow(new RegExp(`HF tokenizer file ${file}: model "vocab" is empty`));
    }
  });

  test('an unknown model type is refused, naming the supported ones (tokenizers.js guessed one from the fields)', () => {
    const file = edited((j) => { j.model.type = 'Foo'; });
    expect(() => loadTokenizer(file)).toThrow(FileFormatError);
    expect(() => loadTokenizer(file)).toThrow(new RegExp(`${file}: model "type" must be one of "BPE", "WordPiece", "Unigram", got "Foo"`));
    expect(() => loadTokenizer(edited((j) => { j.model.type = 42; }))).toThrow(/model "type" must be one of .*, got 42/);
  });

  test('a model without "type" (files older than the field) is still read: tokenizers.js infers it as the Rust library does', () => {
    const t = loadTokenizer(edited((j) => { delete j.model.type; }));
    expect(t.encode('hello world', { bos: false })).toEqual(gpt2.encode('hello world', { bos: false }));
  });
});
