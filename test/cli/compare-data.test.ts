/**
 * The compare demo's pieces: the byte tokenizer, the hash split, body extraction, the pretraining windows,
 * the head-only encoding of long bodies, and the train/eval CLI round trip.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ByteTokenizer, BYTE_TOKENIZER_FILE, HfTokenizer, loadTokenizer } from '../../lib/io';
import { fnv1a, messageBody, splitOf } from '../../lib/cli/compare/datasets';
import { baseConfig, spreadWindows, trainBaseTokenizer } from '../../lib/cli/compare/base_model';
import { encodeHead } from '../../lib/cli/compare/compare_command';
import { LlamaForCausalLM } from '../../lib/nn/models/llama/model';
import { saveModelFolder } from '../../lib/nn/models/save_pretrained';
import { manualSeed } from '../../lib';

describe('ByteTokenizer', () => {
  const tok = new ByteTokenizer();
  it('encodes UTF-8 bytes with BOS (and EOS on request) and decodes back', () => {
    expect(tok.encode('Hi')).toEqual([256, 72, 105]);
    expect(tok.encode('Hi', { bos: false, eos: true })).toEqual([72, 105, 257]);
    const text = 'Call me Ishmael — naïve 🐋\n';
    expect(tok.decode(tok.encode(text, { eos: true }))).toBe(text);
    expect(tok.decode([256, 104, 258, 105, 257])).toBe('hi');
    expect([tok.vocabSize, tok.bosId, tok.eosId, tok.padId]).toEqual([259, 256, 257, 258]);
  });
  it('rejects out-of-range ids and is found by loadTokenizer in a folder', () => {
    expect(() => tok.decode([259])).toThrow(/ByteTokenizer.decode: id 259/);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bytetok-'));
    tok.save(path.join(dir, BYTE_TOKENIZER_FILE));
    expect(loadTokenizer(dir)).toBeInstanceOf(ByteTokenizer);
    fs.writeFileSync(path.join(dir, BYTE_TOKENIZER_FILE), JSON.stringify({ type: 'byte', vocab_size: 300 }));
    expect(() => loadTokenizer(dir)).toThrow(/vocab_size is 300, expected 259/);
    fs.rmSync(dir, { recursive: true });
  });
});

describe('the SpamAssassin split', () => {
  it('FNV-1a matches the published test vectors', () => {
    expect(fnv1a('')).toBe(0x811c9dc5);
    expect(fnv1a('a')).toBe(0xe40c292c);
    expect(fnv1a('foobar')).toBe(0xbf9cf968);
  });
  it('is deterministic, disjoint and roughly 80/10/10', () => {
    const ids = Array.from({ length: 5000 }, (_, i) => String(i).padStart(5, '0'));
    const a = ids.map(splitOf), b = ids.map(splitOf);
    expect(a).toEqual(b);
    const count = (s: string) => a.filter((x) => x === s).length / ids.length;
    expect(count('train') + count('validation') + count('test')).toBeCloseTo(1, 10);
    expect(count('train')).toBeGreaterThan(0.75);
    expect(count('train')).toBeLessThan(0.85);
    for (const s of ['validation', 'test']) {
      expect(count(s)).toBeGreaterThan(0.07);
      expect(count(s)).toBeLessThan(0.13);
    }
  });
});

describe('messageBody', () => {
  it('strips the headers at the first blank line (LF or CRLF)', () => {
    expect(messageBody('From: a\nSubject: b\n\nHello\n\nthere')).toBe('Hello\n\nthere');
    expect(messageBody('From: a\r\nSubject: b\r\n\r\nHello')).toBe('Hello');
    expect(messageBody('From: a\nSubject: b')).toBe('');
  });
});

describe('spreadWindows', () => {
  const words = (n: number, tag: string) => Array.from({ length: n }, (_, i) => `${tag}${i}`).join(' ');
  const texts = [words(3000, 'a'), words(10, 'b'), words(3000, 'c')];
  it('takes about the characters asked, as windows cut at spaces, from the start to the end of the corpus', () => {
    const w = spreadWindows(texts, 8000, 500);
    const total = w.reduce((n, t) => n + t.length, 0);
    expect(total).toBeGreaterThan(6000);
    expect(total).toBeLessThanOrEqual(8500);
    for (const t of w) {
      expect(t.length).toBeLessThanOrEqual(500);
      for (const word of t.split(' ')) expect(word).toMatch(/^[abc]\d+$/);  // no word cut in two
    }
    expect(w[0].startsWith('a0 ')).toBe(true);
    expect(w.some((t) => t.includes('c2'))).toBe(true);
  });
  it('returns every window when the corpus is smaller than asked', () => {
    expect(spreadWindows(['x y z'], 1e6).join(' ')).toBe('x y z');
  });
});

describe('encodeHead', () => {
  const corpus = ['the spam filter reads the first tokens of each message body, and only those'];
  const trained = trainBaseTokenizer(corpus, 320);
  const tok = new HfTokenizer(trained.tokenizer, trained.config);
  it('gives the first maxLength tokens of the whole text, BOS first, for long and short texts', () => {
    const long = Array.from({ length: 400 }, (_, i) => (i % 7 === 0 ? 'http://example.com/x?y=1' : corpus[0].split(' ')[i % 14])).join(' ');
    for (const [text, n] of [[long, 16], [long, 128], ['the spam', 16], ['', 4]] as const)
      expect(encodeHead(tok, text, n)).toEqual(tok.encode(text, { bos: true }).slice(0, n));
  });
});

describe('peftjs train / eval round trip', () => {
  jest.setTimeout(120_000);
  const MAIN = path.join(__dirname, '..', '..', 'dist', 'lib', 'cli', 'main.js');
  const run = (args: string[]) => spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8' });
  (fs.existsSync(MAIN) ? it : it.skip)('trains LoRA on a tiny JSONL set, then eval reads the adapter back', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'peftjs-train-'));
    manualSeed(1);
    const spec = { vocabSize: 259, hiddenSize: 16, numHiddenLayers: 1, numAttentionHeads: 2, intermediateSize: 32, context: 32, steps: 1, batchSize: 1, lr: 0, seed: 1 };
    const model = new LlamaForCausalLM(baseConfig(spec, new ByteTokenizer()));
    const base = path.join(dir, 'base');
    saveModelFolder(model, base);
    new ByteTokenizer().save(path.join(base, BYTE_TOKENIZER_FILE));
    const rows = Array.from({ length: 24 }, (_, i) => JSON.stringify({ text: i % 2 ? `buy now cheap pills ${i}` : `meeting notes for ${i}`, label: i % 2 ? 'spam' : 'ham' }));
    const data = path.join(dir, 'data.jsonl');
    fs.writeFileSync(data, rows.join('\n') + '\n');
    const out = path.join(dir, 'lora');
    const t = run(['train', '--model', base, '--method', 'lora', '--r', '4', '--lora-alpha', '8', '--target-modules', 'q_proj,v_proj',
      '--data', data, '--out', out, '--max-steps', '20', '--batch-size', '8', '--lr', '0.02']);
    expect(t.stderr).not.toMatch(/Error/);
    expect(t.status).toBe(0);
    const trained = JSON.parse(t.stdout);
    expect(trained.steps).toBe(20);
    expect(trained.lastLoss).toBeLessThan(trained.firstLoss);
    for (const f of ['adapter_config.json', 'adapter_model.safetensors', 'labels.json', 'log.jsonl', 'log.svg']) expect(fs.existsSync(path.join(out, f))).toBe(true);
    const e = run(['eval', '--model', base, '--adapter', out, '--data', data]);
    expect(e.status).toBe(0);
    const m = JSON.parse(e.stdout);
    expect(m.examples).toBe(24);
    expect(m.eval_accuracy).toBeGreaterThan(0.5);
    const bad = run(['train', '--model', base, '--method', 'lora', '--data', path.join(dir, 'nope.jsonl'), '--out', out]);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/--data .*nope\.jsonl does not exist/);
    const badFlag = run(['train', '--model', base, '--method', 'lora', '--data', data, '--out', out, '--r', 'x']);
    expect(badFlag.stderr).toMatch(/--r must be a non-negative integer, got 'x'/);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
