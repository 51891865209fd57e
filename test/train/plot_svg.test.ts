/** The loss-curve SVG is well-formed XML with one polyline per curve; the random-stream state round-trips. */
import * as fs from 'fs';
import * as path from 'path';
import {
  getRandomState, getSeedCounters, niceTicks, plotLossSvg, rand, resetSeedCounters, seedCounter, setBackend, setRandomState, setSeedCounters, Trainer,
} from '../../lib';
import { countingData, goldenGpt2, tempDir } from './train_fixtures';

/** A strict little XML well-formedness check: one root, nested tags that close in order, quoted attributes, known entities. */
function checkWellFormed(xml: string): { tags: string[] } {
  let s = xml.replace(/^<\?xml[^?]*\?>\s*/, '');
  const stack: string[] = [];
  const tags: string[] = [];
  let roots = 0;
  const token = /<\/([A-Za-z][\w.-]*)\s*>|<([A-Za-z][\w.-]*)((?:\s+[A-Za-z_:][\w.:-]*="[^"<]*")*)\s*(\/?)>|([^<]+)/y;
  while (s.length > 0) {
    token.lastIndex = 0;
    const m = token.exec(s);
    if (!m) throw new Error(`not well-formed near: ${s.slice(0, 60)}`);
    if (m[1]) {
      if (stack.pop() !== m[1]) throw new Error(`</${m[1]}> closes the wrong element`);
    } else if (m[2]) {
      if (stack.length === 0) roots++;
      tags.push(m[2]);
      if (!m[4]) stack.push(m[2]);
      for (const v of m[3].matchAll(/="([^"]*)"/g)) checkText(v[1]);
    } else if (m[5]) {
      if (stack.length === 0 && m[5].trim() !== '') throw new Error('text outside the root element');
      checkText(m[5]);
    }
    s = s.slice(m[0].length);
  }
  if (stack.length > 0) throw new Error(`unclosed <${stack.join('>, <')}>`);
  if (roots !== 1) throw new Error(`${roots} root elements`);
  return { tags };
}

function checkText(t: string): void {
  for (const e of t.matchAll(/&([^;\s]*);?/g)) if (!/^&(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);$/.test(e[0])) throw new Error(`bad entity ${e[0]}`);
}

describe('plotLossSvg', () => {
  it('is well-formed XML with an svg root, axes labels and one polyline per curve', () => {
    const svg = plotLossSvg({
      train: Array.from({ length: 30 }, (_, i) => ({ step: i + 1, value: 4 / (1 + i / 5) })),
      eval: [{ step: 10, value: 2.5 }, { step: 20, value: 1.9 }, { step: 30, value: 1.7 }],
    }, { title: 'loss <& "quotes">' });
    const { tags } = checkWellFormed(svg);
    expect(tags[0]).toBe('svg');
    expect(tags.filter((t) => t === 'polyline')).toHaveLength(2);
    expect(svg).toContain('class="train"');
    expect(svg).toContain('class="eval"');
    expect(svg).toContain('>step</text>');
    expect(svg).toContain('>loss</text>');
    expect(svg).toContain('loss &lt;&amp; &quot;quotes&quot;&gt;');
    const points = /class="train"[^>]*points="([^"]*)"/.exec(svg)![1].split(' ');
    expect(points).toHaveLength(30);
    for (const p of points) expect(p).toMatch(/^\d+(\.\d+)?,\d+(\.\d+)?$/);
  });

  it('copes with no points, one point and non-finite values (still well-formed)', () => {
    expect(() => checkWellFormed(plotLossSvg({ train: [], eval: [] }))).not.toThrow();
    const one = plotLossSvg({ train: [{ step: 1, value: 3 }, { step: 2, value: NaN }], eval: [] });
    expect(checkWellFormed(one).tags.filter((t) => t === 'polyline')).toHaveLength(1);
    expect(one).not.toMatch(/NaN|Infinity/);
  });

  it('ticks are round numbers covering the range', () => {
    expect(niceTicks(0, 10)).toEqual([0, 2, 4, 6, 8, 10]);
    expect(niceTicks(1.23, 1.87)).toEqual([1.4, 1.6, 1.8]);  // a step of 0.2: the first of 0.1, 0.2, 0.5 at least (1.87 - 1.23) / 5
  });

  it('the trainer writes it beside the log, with the train and eval curves', () => {
    setBackend('native');
    const dir = tempDir('svg');
    new Trainer(goldenGpt2(), { trainDataset: countingData(8), evalDataset: countingData(2), batchSize: 4, maxSteps: 4, evalSteps: 2, outputDir: dir, progress: false }).train();
    const svg = fs.readFileSync(path.join(dir, 'log.svg'), 'utf8');
    expect(checkWellFormed(svg).tags.filter((t) => t === 'polyline')).toHaveLength(2);
    const log = fs.readFileSync(path.join(dir, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(log.map((e) => [e.step, 'loss' in e ? 'train' : 'eval'])).toEqual([[1, 'train'], [2, 'train'], [2, 'eval'], [3, 'train'], [4, 'train'], [4, 'eval']]);
  });
});

describe('random stream state', () => {
  it('getRandomState/setRandomState replay the same draws; bad states are errors', () => {
    setBackend('native');
    const s = getRandomState();
    const a = rand([5]).toFloat32Array();
    setRandomState(s);
    expect(rand([5]).toFloat32Array()).toEqual(a);
    expect(() => setRandomState({ seed: 1, offset: 3 })).toThrow(/setRandomState: offset must be a non-negative multiple of 4/);
    expect(() => setRandomState({ seed: -1, offset: 0 })).toThrow(/setRandomState: seed must be an integer/);
  });

  it('seed counters save, restore and reset by name', () => {
    const c = seedCounter('test.counter', 10);
    expect(seedCounter('test.counter')).toBe(c);
    expect([c.next(), c.next()]).toEqual([10, 11]);
    const saved = getSeedCounters();
    expect(saved['test.counter']).toBe(12);
    expect(saved['lora.dropout']).toBeGreaterThanOrEqual(1);
    c.next();
    setSeedCounters(saved);
    expect(c.peek()).toBe(12);
    resetSeedCounters();
    expect(c.peek()).toBe(10);
    expect(() => setSeedCounters({ 'test.counter': -1 })).toThrow(/seed counter 'test.counter': value must be a non-negative integer/);
  });
});
