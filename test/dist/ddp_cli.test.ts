/**
 * `mpirun -np 2 peftjs train`: the CLI notices the MPI launch, trains data-parallel (--batch-size per rank),
 * and only rank 0 prints progress and the result JSON and writes --out; the run matches one process at the
 * doubled batch. The ranks run lib/cli/main.ts through register_ts.js (no build needed). Skipped, saying
 * why, where Open MPI's mpirun is missing (.ci/run installs it).
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { saveTinyByteLlama } from '../helpers/tiny_base';

const ROOT = path.join(__dirname, '..', '..');
const MAIN = path.join(ROOT, 'lib', 'cli', 'main.ts');
const REGISTER = path.join(__dirname, 'register_ts.js');

const v = spawnSync('mpirun', ['--version'], { encoding: 'utf8' });
const missing = v.error ? `mpirun not found; install Open MPI: apt-get install openmpi-bin` : /Open MPI/i.test(v.stdout + v.stderr) ? null : 'mpirun is not Open MPI\'s';
if (missing) console.warn(`test/dist/ddp_cli.test.ts: skipping: ${missing}`);
const withMpi = missing ? describe.skip : describe;

withMpi('peftjs train under mpirun -np 2', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'peftjs-ddp-cli-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const base = path.join(dir, 'base');
  const data = path.join(dir, 'data.jsonl');
  beforeAll(() => {
    saveTinyByteLlama(base);
    fs.writeFileSync(data, Array.from({ length: 24 }, (_, i) => JSON.stringify({ text: `line ${i} of ${i % 3 ? 'notes' : 'a meeting'}` })).join('\n') + '\n');
  });
  const env = { ...process.env, PEFTJS_NUM_THREADS: '1', OMPI_ALLOW_RUN_AS_ROOT: '1', OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1' };
  const train = (np: number, out: string, batch: number, extra: string[] = []) => {
    const cli = [process.execPath, '-r', REGISTER, MAIN, 'train', '--model', base, '--method', 'lora', '--r', '4', '--task', 'causal-lm', '--data', data,
      '--out', out, '--max-steps', '6', '--batch-size', String(batch), '--lr', '0.01', '--seed', '7', ...extra];
    const [cmd, ...args] = np === 0 ? cli : ['mpirun', '-np', String(np), '--oversubscribe', '--bind-to', 'none', ...cli];
    return spawnSync(cmd, args, { cwd: ROOT, env, encoding: 'utf8', timeout: 120_000 });
  };
  const jsonLines = (stdout: string) => stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, number>);

  it('rank 0 alone prints the result and progress; the run is one process at twice the batch', () => {
    const ddp = train(2, path.join(dir, 'ddp'), 2);
    expect({ status: ddp.status, stderr: ddp.status === 0 ? '' : ddp.stderr }).toEqual({ status: 0, stderr: '' });
    const single = train(0, path.join(dir, 'single'), 4);
    expect(single.status).toBe(0);
    const [r] = jsonLines(ddp.stdout);
    expect(jsonLines(ddp.stdout)).toHaveLength(1);
    expect(r.steps).toBe(6);
    const [s] = jsonLines(single.stdout);
    expect(r.lastLoss).toBeCloseTo(s.lastLoss, 4);
    expect(r.firstLoss).toBeCloseTo(s.firstLoss, 4);
    // The same progress lines as one process prints (not one set per rank).
    const progress = (stderr: string) => stderr.split('\n').filter((l) => /tok\/s/.test(l)).length;
    expect(progress(single.stderr)).toBeGreaterThan(0);
    expect(progress(ddp.stderr)).toBe(progress(single.stderr));
    expect(fs.existsSync(path.join(dir, 'ddp', 'adapter_model.safetensors'))).toBe(true);
  }, 240_000);

  it('--distributed without mpirun: a world of one, as a plain run', () => {
    const r = train(0, path.join(dir, 'one'), 4, ['--distributed']);
    expect({ status: r.status, stderr: r.status === 0 ? '' : r.stderr }).toEqual({ status: 0, stderr: '' });
    expect(jsonLines(r.stdout)).toHaveLength(1);
  }, 120_000);
});
