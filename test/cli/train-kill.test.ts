/**
 * A `peftjs train` process SIGKILLed while it writes a checkpoint (inside the weights file, or with the
 * temporary folder complete but not yet renamed) leaves the previous checkpoint loadable, and `--resume`
 * from it reproduces the uninterrupted run's losses exactly and removes the killed save's temporary. The
 * kill comes from a preload (helpers/kill_in_checkpoint.js) that patches fs in the child, so it lands at
 * the same point every time.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { saveTinyByteLlama } from '../helpers/tiny_base';

const MAIN = path.join(__dirname, '..', '..', 'dist', 'lib', 'cli', 'main.js');
const PRELOAD = path.join(__dirname, 'helpers', 'kill_in_checkpoint.js');
const haveDist = fs.existsSync(MAIN);
if (!haveDist) console.warn(`train-kill spec skipped: ${MAIN} is missing (run npm run build first)`);

describe('killing peftjs train during a checkpoint write', () => {
  jest.setTimeout(180_000);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'peftjs-kill-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const base = path.join(dir, 'base');
  const data = path.join(dir, 'data.jsonl');
  beforeAll(() => {
    saveTinyByteLlama(base);
    const rows = Array.from({ length: 40 }, (_, i) => JSON.stringify({ text: i % 2 ? `cheap pills ${i} now` : `notes of meeting ${i}`, label: i % 2 ? 'spam' : 'ham' }));
    fs.writeFileSync(data, rows.join('\n') + '\n');
  });

  const train = (out: string, method: string, extra: string[] = [], env: Record<string, string> = {}) =>
    spawnSync(process.execPath, [...(env.KILL_AT ? ['--require', PRELOAD] : []), MAIN, 'train', '--model', base, '--method', method, '--data', data,
      '--out', out, '--max-steps', '8', '--save-steps', '4', '--batch-size', '4', '--lr', '0.01', '--seed', '7', ...extra],
    { encoding: 'utf8', env: { ...process.env, ...env } });
  const losses = (out: string) => fs.readFileSync(path.join(out, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l))
    .filter((e) => typeof e.loss === 'number' && typeof e.step === 'number').map((e) => [e.step, e.loss]);

  describe.each([['lora', ['--r', '4']], ['full', []]] as const)('%s', (method, extra) => {
    let reference: number[][] = [];
    (haveDist ? it : it.skip)('runs uninterrupted', () => {
      const out = path.join(dir, `${method}-whole`);
      const r = train(out, method, [...extra]);
      expect(r.stderr).not.toMatch(/Error/);
      expect(r.status).toBe(0);
      reference = losses(out);
      expect(reference.map(([s]) => s)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    });

    (haveDist ? it.each(['weights', 'rename']) : it.skip.each(['weights', 'rename']))('killed at %s of checkpoint-8: checkpoint-4 survives and resuming repeats the losses', (at) => {
      const out = path.join(dir, `${method}-${at}`);
      const killed = train(out, method, [...extra], { KILL_AT: at, KILL_STEP: '8' });
      expect(killed.signal).toBe('SIGKILL');
      const names = fs.readdirSync(out);
      expect(names).toContain('checkpoint-4');
      expect(names).not.toContain('checkpoint-8');
      expect(names.some((n) => n.startsWith('.checkpoint-8.'))).toBe(true);  // the kill really came mid-write
      const resumed = train(out, method, [...extra, '--resume']);
      expect(resumed.stderr).not.toMatch(/Error/);
      expect(resumed.status).toBe(0);
      expect(losses(out)).toEqual(reference);
      expect(fs.readdirSync(out)).toContain('checkpoint-8');
      expect(resumed.stderr).toContain('peftjs train: resuming from checkpoint-4 (step 4)');
      expect(fs.readdirSync(out).filter((n) => n.startsWith('.checkpoint-'))).toEqual([]);  // the killed save's temporary is gone
    });
  });
});
