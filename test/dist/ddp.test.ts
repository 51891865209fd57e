/**
 * Data-parallel training over MPI (lib/dist, lib/train/distributed.ts): `mpirun -np 2` ranks at batch b
 * train exactly as one process at batch 2b (same step losses, same trainable weights after 20 steps, to
 * float32 summation-order tolerance), for LoRA and full fine-tuning, with and without gradient accumulation;
 * ranks that disagree on the adapter config stop with an error naming the rank instead of hanging. Each run
 * is test/dist/ddp_train.ts in child processes. Skipped, saying why, where Open MPI's mpirun is missing
 * (.ci/run installs it).
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { getPeftModel, loadHfModel, LoraConfig, type Module, Trainer } from '../../lib';
import { allGatherIntegers, allReduce, allReduceFlat, barrier, broadcast, isDistributed, rank, worldSize } from '../../lib/dist';
import type { RunSpec } from './ddp_train';

const SCRIPT = path.join(__dirname, 'ddp_train.ts');
const REGISTER = path.join(__dirname, 'register_ts.js');
const ROOT = path.join(__dirname, '..', '..');

/** Why the MPI specs cannot run here, or null when Open MPI's mpirun is on the PATH. */
function mpiMissing(): string | null {
  const v = spawnSync('mpirun', ['--version'], { encoding: 'utf8' });
  if (v.error) return `mpirun not found (${(v.error as NodeJS.ErrnoException).code}); install Open MPI: apt-get install openmpi-bin`;
  if (!/Open MPI/i.test(v.stdout + v.stderr)) return `mpirun is not Open MPI's (${(v.stdout + v.stderr).trim().split('\n')[0]}); peftjs loads Open MPI's libmpi.so.40`;
  return null;
}

const missing = mpiMissing();
if (missing) console.warn(`test/dist/ddp.test.ts: skipping the MPI runs: ${missing}`);
const withMpi = missing ? describe.skip : describe;

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'peftjs-ddp-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

interface RunOutput {
  losses: number[];
  weights: Record<string, number[]>;
}

/**
 * One run of ddp_train.ts: alone (np 0) or under `mpirun -np np`. Each rank gets one thread (two ranks on
 * two cores); --oversubscribe lets two ranks start on a one-core machine, --bind-to none leaves the
 * scheduler free; root may run mpirun only when told it may (CI runs as root).
 */
function run(spec: Omit<RunSpec, 'out'>, np: number, timeoutMs = 120_000): { status: number | null; output: string; ms: number; result: RunOutput | null } {
  const out = path.join(tmp, `run-${Math.random().toString(36).slice(2)}.json`);
  const node = [process.execPath, '-r', REGISTER, SCRIPT, JSON.stringify({ ...spec, out })];
  const [cmd, ...args] = np === 0 ? node : ['mpirun', '-np', String(np), '--oversubscribe', '--bind-to', 'none', ...node];
  const env = { ...process.env, PEFTJS_NUM_THREADS: '1', OMPI_ALLOW_RUN_AS_ROOT: '1', OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1' };
  const t0 = Date.now();
  const r = spawnSync(cmd, args, { cwd: ROOT, env, encoding: 'utf8', timeout: timeoutMs, killSignal: 'SIGTERM' });
  const ms = Date.now() - t0;
  const output = `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? `\n(${r.error.message})` : ''}`;
  const result = fs.existsSync(out) ? (JSON.parse(fs.readFileSync(out, 'utf8')) as RunOutput) : null;
  return { status: r.status, output, ms, result };
}

function expectSameRun(a: RunOutput, b: RunOutput): void {
  expect(b.losses.length).toBe(20);
  expect(a.losses).toAllClose(b.losses, { atol: 1e-5, rtol: 1e-5 });
  expect(Object.keys(a.weights).sort()).toEqual(Object.keys(b.weights).sort());
  for (const [name, w] of Object.entries(b.weights)) {
    expect(a.weights[name]).toAllClose(w, { atol: 1e-5, rtol: 1e-4 });
  }
}

withMpi('2 ranks at batch b = 1 process at batch 2b', () => {
  // 38 examples: an epoch's last global batch of 4 holds 2, all on rank 0 (rank 1 takes part with none).
  const base = { steps: 20, examples: 38, loraR: [2] };
  const cases: [string, Pick<RunSpec, 'mode' | 'backend' | 'gradientAccumulationSteps'>][] = [
    ['LoRA', { mode: 'lora', backend: 'native', gradientAccumulationSteps: 1 }],
    ['LoRA, gradient accumulation 2', { mode: 'lora', backend: 'native', gradientAccumulationSteps: 2 }],
    ['LoRA on the js backend, gradient accumulation 2', { mode: 'lora', backend: 'js', gradientAccumulationSteps: 2 }],
    ['full fine-tuning', { mode: 'full', backend: 'native', gradientAccumulationSteps: 1 }],
    ['full fine-tuning, gradient accumulation 2', { mode: 'full', backend: 'native', gradientAccumulationSteps: 2 }],
  ];
  it.each(cases)('%s: same losses and trainable weights after 20 steps', (_, c) => {
    const single = run({ ...base, ...c, batchSize: 4 }, 0);
    expect({ status: single.status, output: single.status === 0 ? '' : single.output }).toEqual({ status: 0, output: '' });
    const ddp = run({ ...base, ...c, batchSize: 2 }, 2);
    expect({ status: ddp.status, output: ddp.status === 0 ? '' : ddp.output }).toEqual({ status: 0, output: '' });
    expectSameRun(ddp.result!, single.result!);
  }, 180_000);

  it('batch b on 2 ranks is not batch b on 1 (the comparison above can fail)', () => {
    const c = { ...base, mode: 'lora' as const, backend: 'native' as const, gradientAccumulationSteps: 1 };
    const single = run({ ...c, batchSize: 2 }, 0);
    const ddp = run({ ...c, batchSize: 2 }, 2);
    expect(() => expectSameRun(ddp.result!, single.result!)).toThrow();
  }, 180_000);
});

withMpi('ranks that disagree', () => {
  it('a different LoRA r on rank 1: every rank stops with an error naming rank 1, no hang', () => {
    const r = run({ mode: 'lora', backend: 'native', gradientAccumulationSteps: 1, batchSize: 2, steps: 20, examples: 38, loraR: [2, 4] }, 2, 60_000);
    expect(r.status).not.toBe(0);
    expect(r.status).not.toBeNull();  // null: killed at the timeout, i.e. it hung
    expect(r.ms).toBeLessThan(60_000);
    expect(r.output).toMatch(/rank 1 has trainable parameter count \d+ where rank 0 has \d+/);
    expect(r.output).toMatch(/rank 1 has adapter config hash \d+ where rank 0 has \d+/);
    expect(r.result).toBeNull();
  }, 90_000);
});

describe('without MPI', () => {
  it('a process not started by mpirun is a world of one: collectives are the identity', () => {
    expect([worldSize(), rank(), isDistributed()]).toEqual([1, 0, false]);
    const x = new Float32Array([1, 2, 3]);
    allReduce(x, 'mean');
    broadcast(x, 0);
    allReduceFlat([x], 'sum');
    barrier();
    expect(Array.from(x)).toEqual([1, 2, 3]);
    expect(allGatherIntegers([5, 2 ** 40])).toEqual([[5, 2 ** 40]]);
  });

  it('a missing MPI library: the error says how to install Open MPI', () => {
    const r = spawnSync(process.execPath, ['-r', REGISTER, '-e', "require('./lib/dist').initDistributed()"],
      { cwd: ROOT, env: { ...process.env, PEFTJS_MPI_LIB: path.join(tmp, 'no-libmpi.so') }, encoding: 'utf8' });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/cannot load MPI \(.*no-libmpi\.so.*\).*apt-get install openmpi-bin/);
  });

  it('TrainerOptions.distributed must be a boolean', () => {
    const model = getPeftModel(loadHfModel(path.join(__dirname, '..', 'fixtures', 'models', 'llama')) as unknown as Module, new LoraConfig({ r: 2, targetModules: ['q_proj'] }));
    expect(() => new Trainer(model as unknown as Module, { trainDataset: [{ inputIds: [1, 2, 3] }], distributed: 'yes' as unknown as boolean }))
      .toThrow('Trainer: distributed must be a boolean, got yes');
  });
});
