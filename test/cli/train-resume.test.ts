/**
 * `peftjs train` around the edges of a run: a resumed run says where it resumes from and its JSON tells the
 * whole run's first loss from the resumed part's; a bad argument fails before --out is created; a NaN or
 * infinite loss ends the run with one line naming the flags to change, or is skipped and counted with
 * --skip-nonfinite-steps.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { saveTinyByteLlama } from '../helpers/tiny_base';

const MAIN = path.join(__dirname, '..', '..', 'dist', 'lib', 'cli', 'main.js');
const haveDist = fs.existsSync(MAIN);
if (!haveDist) console.warn(`train-resume spec skipped: ${MAIN} is missing (run npm run build first)`);
const maybe = haveDist ? it : it.skip;

describe('peftjs train: resume, argument errors, non-finite losses', () => {
  jest.setTimeout(180_000);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'peftjs-train-cli-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const base = path.join(dir, 'base');
  const data = path.join(dir, 'data.jsonl');
  beforeAll(() => {
    saveTinyByteLlama(base);
    const rows = Array.from({ length: 40 }, (_, i) => JSON.stringify({ text: i % 2 ? `cheap pills ${i} now` : `notes of meeting ${i}`, label: i % 2 ? 'spam' : 'ham' }));
    fs.writeFileSync(data, rows.join('\n') + '\n');
  });

  const run = (args: string[], env: Record<string, string> = {}) =>
    spawnSync(process.execPath, [MAIN, 'train', ...args], { encoding: 'utf8', env: { ...process.env, ...env } });
  const LORA = ['--method', 'lora', '--r', '4'];
  const train = (out: string, extra: string[] = [], { method = LORA, env = {} }: { method?: string[]; env?: Record<string, string> } = {}) =>
    run(['--model', base, ...method, '--data', data, '--out', out, '--max-steps', '8', '--save-steps', '4', '--batch-size', '4',
      '--lr', '0.01', '--seed', '7', ...extra], env);
  const json = (stdout: string) => JSON.parse(stdout.trim().split('\n').pop()!);
  const logLosses = (out: string) => new Map(fs.readFileSync(path.join(out, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l))
    .filter((e) => typeof e.loss === 'number').map((e) => [e.step as number, e.loss as number]));

  maybe('a resumed run says so on stderr; its JSON keeps the whole run\'s first loss and gives the resumed part\'s beside it', () => {
    const out = path.join(dir, 'resume');
    const whole = train(out);
    expect(whole.status).toBe(0);
    const wholeResult = json(whole.stdout);
    const losses = logLosses(out);
    expect(wholeResult).toMatchObject({ steps: 8, firstLoss: losses.get(1), lastLoss: losses.get(8), resumedFromStep: null, resumedFirstLoss: null, skippedNonFiniteSteps: 0 });
    fs.rmSync(path.join(out, 'checkpoint-8'), { recursive: true });  // as if killed between checkpoint-4 and checkpoint-8
    const resumed = train(out, ['--resume']);
    expect(resumed.status).toBe(0);
    expect(resumed.stderr).toContain('peftjs train: resuming from checkpoint-4 (step 4)\n');
    expect(json(resumed.stdout)).toEqual({
      ...wholeResult, firstLoss: losses.get(1), resumedFromStep: 4, resumedFirstLoss: losses.get(5), lastLoss: losses.get(8),
    });
  });

  const argumentErrors: [string, string[], RegExp][] = [
    ['a bad --lr', ['--lr', 'fast'], /--lr must be a number >= 0, got 'fast'/],
    ['a bad --seed', ['--seed', '-1'], /--seed must be an integer in \[0, 2\^32\), got '-1'/],
    ['a bad --max-steps', ['--max-steps', '0'], /--max-steps must be a positive integer, got '0'/],
    ['a bad --max-grad-norm', ['--max-grad-norm', '-1'], /--max-grad-norm must be a number >= 0, got '-1'/],
    ['a bad method option', ['--r', 'four'], /--r must be a non-negative integer, got 'four'/],
    ['a value for a switch', ['--skip-nonfinite-steps=yes'], /--skip-nonfinite-steps takes no value/],
    ['a missing --data file', ['--data', '/nonexistent/train.jsonl'], /--data \/nonexistent\/train\.jsonl does not exist/],
    ['--resume without a checkpoint', ['--resume'], /--resume: no checkpoint-<step> folder in /],
  ];
  (haveDist ? it.each(argumentErrors) : it.skip.each(argumentErrors))('%s fails in one line and leaves no --out folder', (_name, args, message) => {
    const out = path.join(dir, `bad-${_name.replace(/\W+/g, '-')}`);
    const r = train(out, args);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(fs.existsSync(out)).toBe(false);
  });

  maybe('a missing --data flag leaves no --out folder', () => {
    const out = path.join(dir, 'no-data');
    const r = run(['--model', base, '--method', 'lora', '--out', out]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/--data is required/);
    expect(fs.existsSync(out)).toBe(false);
  });

  const backends = [['js'], ['native']];
  const full = (backend: string) => ({ method: ['--method', 'full'], env: { PEFTJS_BACKEND: backend } });
  (haveDist ? it.each(backends) : it.skip.each(backends))('%s: lr 1e30 makes the loss non-finite; the run stops with one line naming the flags to try, no checkpoint written from it', (backend) => {
    const out = path.join(dir, `nan-stop-${backend}`);
    const r = train(out, ['--lr', '1e30', '--save-steps', '1'], full(backend));
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^peftjs train: loss is (NaN|Inf) at step \d+ \(the last finite step was \d+\)\. Try a lower --lr, gradient clipping \(--max-grad-norm above 0\), checking --data for bad values, or --skip-nonfinite-steps to skip such steps$/m);
    expect(r.stderr.trim().split('\n').filter((l) => !l.startsWith('['))).toHaveLength(1);  // one line besides the progress
    const step = Number(/at step (\d+)/.exec(r.stderr)![1]);
    expect(fs.readdirSync(out).filter((n) => n.startsWith('checkpoint-')).sort()).toEqual(Array.from({ length: step - 1 }, (_, i) => `checkpoint-${i + 1}`).sort());
  });

  (haveDist ? it.each(backends) : it.skip.each(backends))('%s: --skip-nonfinite-steps goes on, and the final JSON and the log count the skipped steps', (backend) => {
    const out = path.join(dir, `nan-skip-${backend}`);
    const r = train(out, ['--lr', '1e30', '--skip-nonfinite-steps'], full(backend));
    expect(r.status).toBe(0);
    const result = json(r.stdout);
    expect(result.steps).toBe(8);
    expect(result.skippedNonFiniteSteps).toBeGreaterThan(0);
    expect(r.stderr).toMatch(/loss is (NaN|Inf) at step \d+ .*: step skipped \(skipNonFiniteSteps\)/);
    const log = fs.readFileSync(path.join(out, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(log[log.length - 1].skipped_nonfinite_steps).toBe(result.skippedNonFiniteSteps);
  });
});
