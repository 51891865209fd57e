/**
 * A failed peftjs command prints one line on stderr and exits 1: usage errors, and errors thrown deep in
 * library code on purpose (the Trainer's "no checkpoint to resume from"). An unexpected error (a
 * TypeError) is one line plus a hint to set PEFTJS_DEBUG=1, which prints the stack. Runs dist/ (npm run build).
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { saveTinyByteLlama } from '../helpers/tiny_base';

const MAIN = path.join(__dirname, '..', '..', 'dist', 'lib', 'cli', 'main.js');
const haveDist = fs.existsSync(MAIN);
if (!haveDist) console.warn(`CLI error specs skipped: ${MAIN} is missing (run npm run build first)`);

const peftjs = (args: string[], env: Record<string, string> = {}, nodeArgs: string[] = []) =>
  spawnSync(process.execPath, [...nodeArgs, MAIN, ...args], { encoding: 'utf8', env: { ...process.env, PEFTJS_DEBUG: '', ...env } });
const STACK_FRAME = /^\s+at /m;

(haveDist ? describe : describe.skip)('peftjs errors', () => {
  jest.setTimeout(60_000);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'peftjs-errors-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('an unknown command says so, lists the commands, and exits 1 without a stack', () => {
    const r = peftjs(['frobnicate']);
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^peftjs: unknown command 'frobnicate' \(commands: compare, train, eval, info, generate, eval-loss, merge, bench;/);
  });

  describe('train --resume with no checkpoint', () => {
    const base = path.join(dir, 'base');
    const data = path.join(dir, 'data.jsonl');
    const args = () => ['train', '--model', base, '--method', 'lora', '--data', data, '--out', path.join(dir, 'out'), '--max-steps', '2', '--resume'];
    beforeAll(() => {
      saveTinyByteLlama(base);
      fs.writeFileSync(data, ['{"text": "cheap pills", "label": "spam"}', '{"text": "meeting notes", "label": "ham"}'].join('\n') + '\n');
    });

    it('is one line naming the command, exit 1', () => {
      const r = peftjs(args());
      expect(r.status).toBe(1);
      expect(r.stderr).not.toMatch(STACK_FRAME);
      expect(r.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^peftjs train: .*no checkpoint-<step> folder in /)]);
    });

    it('PEFTJS_DEBUG=1 prints the stack', () => {
      const r = peftjs(args(), { PEFTJS_DEBUG: '1' });
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/no checkpoint-<step> folder/);
      expect(r.stderr).toMatch(STACK_FRAME);
    });
  });

  // `peftjs info` whose console.log throws (a preload patches it) stands in for errors thrown deep in library code.
  const infoThrowing = (error: string) => {
    const preload = path.join(dir, 'throws.js');
    fs.writeFileSync(preload, `console.log = () => { throw ${error}; };\n`);
    return peftjs(['info'], {}, ['--require', preload]);
  };

  it("an Error thrown on purpose in library code (like the Trainer's checks) is one line", () => {
    const r = infoThrowing("new Error('Trainer: resumeFromCheckpoint: no checkpoint-<step> folder in out')");
    expect(r.status).toBe(1);
    expect(r.stderr).toBe('peftjs info: Trainer: resumeFromCheckpoint: no checkpoint-<step> folder in out\n');
  });

  it('an unexpected error (a bug) is one line plus the PEFTJS_DEBUG hint', () => {
    const r = infoThrowing("new TypeError('x.y is not a function')");
    expect(r.status).toBe(1);
    expect(r.stderr).not.toMatch(STACK_FRAME);
    expect(r.stderr.trim().split('\n')).toEqual(['peftjs info: TypeError: x.y is not a function', expect.stringMatching(/PEFTJS_DEBUG=1/)]);
  });
});
