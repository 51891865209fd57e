/** Data files to examples: CSV quoting (RFC 4180), JSONL errors with line numbers, labels, tokenization, shuffling, batches. */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  assignLabels, collate, DataError, loadCausalLMDataset, loadClassificationDataset, parseCsv, parseRecords, ShuffleRng, type Tokenizer,
} from '../../lib';

/** One id per character (code mod 50, + 1), so lengths and contents are easy to predict. */
const charTokenizer: Tokenizer = {
  vocabSize: 51, bosId: null, eosId: 0, padId: null,
  encode: (text, opts) => [...[...text].map((c) => (c.charCodeAt(0) % 50) + 1), ...(opts?.eos ? [0] : [])],
  decode: () => '',
};

describe('CSV (RFC 4180)', () => {
  it('quoted commas, doubled quotes, line breaks inside quotes, CRLF, a BOM; each record names its first line', () => {
    const text = '\ufefftext,label\r\n"hello, world",1\r\n"say ""hi""",0\n"two\nlines",1\nplain,0\n\n"",1';
    expect(parseCsv(text)).toEqual([
      { line: 1, fields: ['text', 'label'] },
      { line: 2, fields: ['hello, world', '1'] },
      { line: 3, fields: ['say "hi"', '0'] },
      { line: 4, fields: ['two\nlines', '1'] },
      { line: 6, fields: ['plain', '0'] },
      { line: 8, fields: ['', '1'] },
    ]);
  });

  it('a stray quote or text after a closing quote is a bad row with its line; parsing resumes on the next line', () => {
    const recs = parseCsv('a,b\nx"y,1\n"q"z,2\nok,3\n');
    expect(recs.map((r) => [r.line, r.problem === undefined])).toEqual([[1, true], [2, false], [3, false], [4, true]]);
    expect(recs[3].fields).toEqual(['ok', '3']);
  });

  it('an unterminated quoted field is an error naming the line it opened on', () => {
    expect(() => parseCsv('text,label\nfine,1\n"never closed,0\nmore,1\n', 'd.csv')).toThrow('d.csv:3: unterminated quoted field');
  });

  it('chosen columns; a row with the wrong field count is an error, or skipped and reported', () => {
    const text = 'id,sentence,y\n1,good,pos\n2,bad\n3,"fine, really",neg\n';
    expect(() => parseRecords(text, 'd.csv', { textField: 'sentence', labelField: 'y', withLabels: true }))
      .toThrow('d.csv:3: expected 3 fields (as the header), got 2');
    const r = parseRecords(text, 'd.csv', { textField: 'sentence', labelField: 'y', withLabels: true, badRows: 'skip' });
    expect(r.examples).toEqual([{ text: 'good', label: 'pos', line: 2 }, { text: 'fine, really', label: 'neg', line: 4 }]);
    expect(r.skipped).toEqual([{ file: 'd.csv', line: 3, problem: 'expected 3 fields (as the header), got 2' }]);
    expect(() => parseRecords(text, 'd.csv', { textField: 'body' })).toThrow(/d\.csv:1: no column "body"/);
  });
});

describe('JSONL', () => {
  const text = ['{"text": "a", "label": 1}', '', '{"text": "b"}', '{"text": 3, "label": 0}', '{not json', '[1]', '{"text": "c", "label": 0}'].join('\n');

  it('the first bad row is an error: file:line: problem', () => {
    expect(() => parseRecords(text, 'data.jsonl', { withLabels: true })).toThrow(new DataError('data.jsonl', 3, 'missing field "label"'));
    expect(() => parseRecords(text, 'data.jsonl', { withLabels: true })).toThrow('data.jsonl:3: missing field "label"');
  });

  it('with badRows: skip, every bad row is reported with its line and the good ones kept', () => {
    const r = parseRecords(text, 'data.jsonl', { withLabels: true, badRows: 'skip' });
    expect(r.examples).toEqual([{ text: 'a', label: 1, line: 1 }, { text: 'c', label: 0, line: 7 }]);
    expect(r.skipped.map((s) => s.line)).toEqual([3, 4, 5, 6]);
    expect(r.skipped[1].problem).toBe('field "text" must be a string, got 3');
    expect(r.skipped[2].problem).toMatch(/^not valid JSON/);
    expect(r.skipped[3].problem).toBe('expected a JSON object, got an array');
  });
});

describe('labels', () => {
  it('names get ids in sorted order; given names map in order; unknown ones are bad rows', () => {
    const ex = [{ text: 'x', label: 'pos', line: 1 }, { text: 'y', label: 'neg', line: 2 }];
    expect(assignLabels(ex, 'f').examples.map((e) => e.label)).toEqual([1, 0]);
    expect(assignLabels(ex, 'f', { labelNames: ['pos', 'neg'] }).examples.map((e) => e.label)).toEqual([0, 1]);
    expect(() => assignLabels([...ex, { text: 'z', label: 'meh', line: 5 }], 'f', { labelNames: ['neg', 'pos'] })).toThrow(/^f:5: label "meh"/);
    expect(assignLabels([{ text: 'x', label: '1', line: 1 }, { text: 'y', label: 0, line: 2 }], 'f').examples.map((e) => e.label)).toEqual([1, 0]);
  });
});

describe('datasets from files', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'peftjs-data-'));

  it('classification from CSV: tokenized, truncated, labelled', () => {
    const file = path.join(dir, 'cls.csv');
    fs.writeFileSync(file, 'text,label\n"abcdef",pos\nab,neg\n');
    const ds = loadClassificationDataset(file, charTokenizer, { maxLength: 4 });
    expect(ds.labelNames).toEqual(['neg', 'pos']);
    expect(ds.examples).toEqual([{ inputIds: [48, 49, 50, 1], label: 1, line: 2 }, { inputIds: [48, 49], label: 0, line: 3 }]);
  });

  it('causal LM from text: one example per line, or the whole file in blocks of the context length', () => {
    const file = path.join(dir, 'lm.txt');
    fs.writeFileSync(file, 'abc\n\nd\nefgh\n');
    const lines = loadCausalLMDataset(file, charTokenizer, { maxLength: 3 });
    // 'd' has a single token: nothing to predict, dropped.
    expect(lines.examples.map((e) => [e.line, e.inputIds.length])).toEqual([[1, 3], [4, 3]]);
    const blocks = loadCausalLMDataset(file, charTokenizer, { maxLength: 4, grouping: 'blocks' });
    // "abc\n\nd\nefgh\n" is 12 characters: blocks of 4, 4, 4.
    expect(blocks.examples.map((e) => e.inputIds.length)).toEqual([4, 4, 4]);
    expect(blocks.examples[0].inputIds).toEqual(charTokenizer.encode('abc\n'));
  });
});

describe('shuffling', () => {
  it('the same seed gives the same permutations; another seed others; each is a permutation', () => {
    const a = new ShuffleRng(7), b = new ShuffleRng(7), c = new ShuffleRng(8);
    const pa = [a.permutation(20), a.permutation(20)];
    expect([b.permutation(20), b.permutation(20)]).toEqual(pa);
    expect(c.permutation(20)).not.toEqual(pa[0]);
    expect([...pa[0]].sort((x, y) => x - y)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(pa[0]).not.toEqual(pa[1]);
  });

  it('saving and restoring the state continues the same sequence', () => {
    const a = new ShuffleRng(123);
    a.permutation(10);
    const saved = a.state;
    const next = [a.permutation(10), a.permutation(5)];
    const b = new ShuffleRng(0);
    b.state = saved;
    expect([b.permutation(10), b.permutation(5)]).toEqual(next);
  });

  it('draws what the published mulberry32 (Tommy Ettinger\'s JavaScript, verbatim) draws', () => {
    /* eslint-disable */
    function mulberry32(a: number) {
      return function () {
        var t = (a += 0x6d2b79f5);
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
      };
    }
    for (const seed of [0, 123, 2 ** 32 - 1]) {
      const ref = mulberry32(seed), r = new ShuffleRng(seed);
      for (let i = 0; i < 5; i++) expect(r.nextUint32()).toBe(ref() * 4294967296);
    }
    expect(new ShuffleRng(0).nextUint32()).toBe(1144304738);
  });
});

describe('collate', () => {
  it('right padding, attention mask, causal-LM labels -100 on padding; targets count next-token terms', () => {
    const b = collate([{ inputIds: [5, 6, 7] }, { inputIds: [8] }], 'causal_lm', 2);
    expect(Array.from(b.inputIds.data)).toEqual([5, 6, 7, 8, 2, 2]);
    expect(Array.from(b.attentionMask.data)).toEqual([1, 1, 1, 1, 0, 0]);
    expect(Array.from(b.labels.data)).toEqual([5, 6, 7, 8, -100, -100]);
    expect([b.targets, b.tokens]).toEqual([2, 4]);
  });

  it('classification labels are the class ids', () => {
    const b = collate([{ inputIds: [5], label: 1 }, { inputIds: [8, 9], label: 0 }], 'seq_cls', 0);
    expect(b.labels.shape).toEqual([2]);
    expect(Array.from(b.labels.data)).toEqual([1, 0]);
    expect(() => collate([{ inputIds: [5], line: 9 }], 'seq_cls', 0)).toThrow(/line 9.*no valid label/);
  });
});
