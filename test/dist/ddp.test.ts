/**
 * Data-parallel training over MPI (lib/dist, lib/train/distributed.ts): `mpirun -np 2` ranks at batch b
 * train exactly as one process at batch 2b (same step losses, same trainable weights after 20 steps, to
 * float32 summation-order tolerance), for LoRA and full fine-tuning, with and without gradient accumulation;
 * ranks that disagree on the adapter config stop with an error naming the rank instead of hanging; a rank
 * SIGKILLed mid-run ends the job within seconds (Open MPI's mpirun does it), a stuck one after the
 * collective watchdog's PEFTJS_DIST_TIMEOUT (csrc/runtime/mpi_loader.cc), and the last checkpoint resumes
 * bit for bit at the same world size, and at another one from the mapped data position. Each run
 * is test/dist/ddp_train.ts in child processes. Skipped, saying why, where Open MPI's mpirun is missing
 * (.ci/run installs it).
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { getPeftModel, loadHfModel, LoraConfig, type Module, Trainer } from '../../lib';
import { allGatherIntegers, allReduce, allReduceFlat, barrier, broadcast, isDistributed, rank, worldSize } from '../../lib/dist';
import { readTrainerState } from '../../lib/train/checkpoint';
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
function run(spec: Omit<RunSpec, 'out'>, np: number, timeoutMs = 120_000, extraEnv: Record<string, string> = {}): { status: number | null; output: string; ms: number; endedAt: number; out: string; result: RunOutput | null } {
  const out = path.join(tmp, `run-${Math.random().toString(36).slice(2)}.json`);
  const node = [process.execPath, '-r', REGISTER, SCRIPT, JSON.stringify({ ...spec, out })];
  const [cmd, ...args] = np === 0 ? node : ['mpirun', '-np', String(np), '--oversubscribe', '--bind-to', 'none', ...node];
  const env = { ...process.env, PEFTJS_NUM_THREADS: '1', OMPI_ALLOW_RUN_AS_ROOT: '1', OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1', ...extraEnv };
  const t0 = Date.now();
  const r = spawnSync(cmd, args, { cwd: ROOT, env, encoding: 'utf8', timeout: timeoutMs, killSignal: 'SIGTERM' });
  const endedAt = Date.now();
  const ms = endedAt - t0;
  const output = `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? `\n(${r.error.message})` : ''}`;
  const result = fs.existsSync(out) ? (JSON.parse(fs.readFileSync(out, 'utf8')) as RunOutput) : null;
  return { status: r.status, output, ms, endedAt, out, result };
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

withMpi('faults and resume', () => {
  // Checkpoints every 4 steps; in epoch 0's last global batch (step 10) rank 1 has no examples, so its LoRA
  // dropout seed counter falls behind rank 0's: checkpoint-12 holds two different ranks' streams.
  const base = { mode: 'lora' as const, backend: 'native' as const, gradientAccumulationSteps: 1, steps: 20, examples: 38, loraR: [2], batchSize: 2, loraDropout: 0.1 };
  const ck = path.join(tmp, 'killed');
  let full: RunOutput;

  beforeAll(() => {
    const r = run(base, 2);
    expect({ status: r.status, output: r.status === 0 ? '' : r.output }).toEqual({ status: 0, output: '' });
    full = r.result!;
  }, 120_000);

  it('rank 1 SIGKILLed after checkpoint-12: the job ends within 10 s, non-zero, naming rank 1; checkpoint-12 resumes bit for bit at the same world size', () => {
    const r = run({ ...base, outputDir: ck, saveSteps: 4, kill: { rank: 1, step: 14 } }, 2, 60_000);
    const killedAt = Number(fs.readFileSync(`${r.out}.killed`, 'utf8'));
    // Open MPI itself ends the job: mpirun sees rank 1 die, kills the other ranks and exits 128+9.
    expect(r.status).not.toBeNull();  // null: killed at the timeout, i.e. it hung
    expect(r.status).not.toBe(0);
    expect(r.endedAt - killedAt).toBeLessThan(10_000);
    expect(r.output).toMatch(/process rank 1 with PID \d+ on node \S+ exited on signal 9/);
    expect(r.result).toBeNull();
    expect(fs.readdirSync(ck).filter((f) => f.startsWith('checkpoint-')).sort()).toEqual(['checkpoint-12', 'checkpoint-4', 'checkpoint-8']);
    const state = readTrainerState(path.join(ck, 'checkpoint-12'));
    expect([state.globalStep, state.worldSize, state.batchSize]).toEqual([12, 2, 2]);
    expect(state.rankRandom![0].seedCounters['lora.dropout']).toBeGreaterThan(state.rankRandom![1].seedCounters['lora.dropout']);

    const resumed = run({ ...base, resume: path.join(ck, 'checkpoint-12') }, 2);
    expect({ status: resumed.status, output: resumed.status === 0 ? '' : resumed.output }).toEqual({ status: 0, output: '' });
    expect(resumed.result!.losses).toEqual(full.losses.slice(12));
    expect(resumed.result!.weights).toEqual(full.weights);
  }, 180_000);

  it('rank 1 stuck (alive, never reaching the next all-reduce): the watchdog ends the job after PEFTJS_DIST_TIMEOUT, non-zero, no hang', () => {
    const r = run({ ...base, stall: { rank: 1, step: 5 } }, 2, 60_000, { PEFTJS_DIST_TIMEOUT: '3' });
    const stalledAt = Number(fs.readFileSync(`${r.out}.stalled`, 'utf8'));
    expect(r.status).not.toBeNull();
    expect(r.status).not.toBe(0);
    expect(r.endedAt - stalledAt).toBeGreaterThanOrEqual(3_000);
    expect(r.endedAt - stalledAt).toBeLessThan(13_000);
    expect(r.output).toMatch(/peftjs: rank 0 of 2: MPI_Allreduce has waited [34] s for the other ranks \(PEFTJS_DIST_TIMEOUT\)/);
    expect(r.result).toBeNull();
  }, 90_000);

  it('a 2-rank checkpoint resumed by one process: at the same global batch it continues the 2-rank run; at another it skips to the next whole batch', () => {
    // Without dropout, whose masks depend on how the global batch is cut into per-rank batches.
    const d0 = { ...base, loraDropout: 0 };
    const ck0 = path.join(tmp, 'every4');
    const ref = run({ ...d0, outputDir: ck0, saveSteps: 4 }, 2);
    expect({ status: ref.status, output: ref.status === 0 ? '' : ref.output }).toEqual({ status: 0, output: '' });

    // 1 x 4 = 2 x 2: the same global batches from step 9 on.
    const same = run({ ...d0, batchSize: 4, resume: path.join(ck0, 'checkpoint-8') }, 0);
    expect({ status: same.status, output: same.status === 0 ? '' : same.output }).toEqual({ status: 0, output: '' });
    expect(same.result!.losses).toAllClose(ref.result!.losses.slice(8), { atol: 1e-5, rtol: 1e-5 });
    for (const [name, w] of Object.entries(ref.result!.weights)) expect(same.result!.weights[name]).toAllClose(w, { atol: 1e-5, rtol: 1e-4 });

    // 1 x 3: step 8 of 2 x 2 trained examples [0, 32) of epoch 0's order; 32 is not a multiple of 3, so the
    // run starts at batch ceil(32 / 3) = 11 (skipping example 32) and finishes epoch 0 with batches 11 and
    // 12 (steps 9, 10), then 10 batches of epoch 1 (steps 11..20).
    const out3 = path.join(tmp, 'resumed-at-3');
    const other = run({ ...d0, batchSize: 3, resume: path.join(ck0, 'checkpoint-8'), outputDir: out3, saveSteps: 10 }, 0);
    expect({ status: other.status }).toEqual({ status: 0 });
    expect(other.output).toContain('as 1 rank x batch 3: 1 example(s) of epoch 0 skipped to start at a whole global batch of 3');
    expect(other.result!.losses).toHaveLength(12);
    const at10 = readTrainerState(path.join(out3, 'checkpoint-10'));
    const at20 = readTrainerState(path.join(out3, 'checkpoint-20'));
    expect([at10.epoch, at10.batchInEpoch, at20.epoch, at20.batchInEpoch, at20.worldSize, at20.batchSize, at20.rankRandom]).toEqual([1, 0, 1, 10, 1, 3, null]);
  }, 240_000);
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

  it('a PEFTJS_DIST_TIMEOUT that is not a whole number of seconds: initDistributed says so', () => {
    const r = spawnSync(process.execPath, ['-r', REGISTER, '-e', "require('./lib/dist').initDistributed()"],
      { cwd: ROOT, env: { ...process.env, PEFTJS_DIST_TIMEOUT: '2.5' }, encoding: 'utf8' });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("distInit: PEFTJS_DIST_TIMEOUT must be a whole number of seconds (0: no collective watchdog), got '2.5'");
  });

  it('TrainerOptions.distributed must be a boolean', () => {
    const model = getPeftModel(loadHfModel(path.join(__dirname, '..', 'fixtures', 'models', 'llama')) as unknown as Module, new LoraConfig({ r: 2, targetModules: ['q_proj'] }));
    expect(() => new Trainer(model as unknown as Module, { trainDataset: [{ inputIds: [1, 2, 3] }], distributed: 'yes' as unknown as boolean }))
      .toThrow('Trainer: distributed must be a boolean, got yes');
  });
});
