/**
 * NCCL for the cuda backend's collectives (lib/dist/nccl.ts, csrc/binding/nccl_binding.cc, cuda/nccl.cu):
 *
 * - Everywhere: the entries' argument checks and their answers where NCCL cannot run (a build without
 *   CUDA says so; a CUDA build with no communicator says that), and the routing (host arrays and CPU
 *   tensors take the MPI path without touching NCCL).
 * - With Open MPI's mpirun: 2 ranks where rank 1 has NCCL disabled agree not to use it, naming rank 1, and
 *   warn once; CPU tensors still all-reduce over MPI.
 * - With GPUs, NCCL and mpirun: device buffers all-reduced and broadcast by NCCL on the backend's stream
 *   (no host wait while queuing), and lib/dist's cuda tensors going through it. Skipped, saying why,
 *   elsewhere (no GPU here; a GPU machine runs it).
 * The MPI runs are test/dist/nccl_rank.ts in child processes.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { fromArray } from '../../lib';
import { loadAddon } from '../../lib/backend/native/addon';
import { allReduce, allReduceTensors, broadcastTensors, collectivePath, ncclInfo, ncclOutcome, setNcclWarningHandler } from '../../lib/dist';
import type { DistAddon, NcclOutcome } from '../../lib/dist/mpi';
import type { NcclRankSpec } from './nccl_rank';

const SCRIPT = path.join(__dirname, 'nccl_rank.ts');
const REGISTER = path.join(__dirname, 'register_ts.js');
const ROOT = path.join(__dirname, '..', '..');

const addon = loadAddon() as unknown as (DistAddon & { info(): { cudaCompiled: boolean }; cudaDeviceCount(): { count: number; reason: string } }) | null;
if (!addon) console.warn('test/dist/nccl.test.ts: skipping: the native addon is not loaded');
const withAddon = addon ? describe : describe.skip;
const cudaCompiled = addon?.info().cudaCompiled ?? false;

/** Why the MPI runs cannot happen here, or null when Open MPI's mpirun is on the PATH. */
function mpiMissing(): string | null {
  const v = spawnSync('mpirun', ['--version'], { encoding: 'utf8' });
  if (v.error) return `mpirun not found (${(v.error as NodeJS.ErrnoException).code}); install Open MPI: apt-get install openmpi-bin`;
  if (!/Open MPI/i.test(v.stdout + v.stderr)) return `mpirun is not Open MPI's (${(v.stdout + v.stderr).trim().split('\n')[0]})`;
  return null;
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'peftjs-nccl-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/**
 * nccl_rank.ts under `mpirun -np np`, each rank started by `sh -c prelude; exec node ...` (prelude sets
 * per-rank variables from OMPI_COMM_WORLD_*). Returns every rank's JSON, or the output when one is missing.
 */
function runRanks(mode: NcclRankSpec['mode'], np: number, prelude: string): { results: Record<string, unknown>[] | null; output: string } {
  const out = path.join(tmp, `${mode}-${Math.random().toString(36).slice(2)}`);
  const spec: NcclRankSpec = { mode, out };
  const args = ['-np', String(np), '--oversubscribe', '--bind-to', 'none', 'sh', '-c', `${prelude}; exec "$@"`, 'sh',
    process.execPath, '-r', REGISTER, SCRIPT, JSON.stringify(spec)];
  const env = { ...process.env, PEFTJS_NUM_THREADS: '1', OMPI_ALLOW_RUN_AS_ROOT: '1', OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1' };
  const r = spawnSync('mpirun', args, { cwd: ROOT, env, encoding: 'utf8', timeout: 120_000, killSignal: 'SIGTERM' });
  const output = `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? `\n(${r.error.message})` : ''}`;
  const files = Array.from({ length: np }, (_, rank) => `${out}.${rank}`);
  if (r.status !== 0 || !files.every((f) => fs.existsSync(f))) return { results: null, output };
  return { results: files.map((f) => JSON.parse(fs.readFileSync(f, 'utf8')) as Record<string, unknown>), output };
}

withAddon('the NCCL entries without a communicator', () => {
  it('ncclInfo says whether NCCL loads here, and why not', () => {
    const info = ncclInfo();
    expect(info.ready).toBe(false);
    if (!cudaCompiled) {
      expect(info).toEqual({ available: false, library: '', version: '', reason: expect.stringMatching(/^peftjs was built without CUDA/), ready: false });
    } else if (!info.available) {
      expect(info.reason).toMatch(/^(libnccl\.so\.2 was not found \(|NCCL is disabled by PEFTJS_NCCL_LIB=)/);
      expect(info.library).toBe('');
    } else {
      expect(info.version).toMatch(/^2\.\d+\.\d+$/);
      expect(info.reason).toBe('');
    }
  });

  it('the collectives refuse without CUDA, or without a communicator, naming the entry', () => {
    // Without CUDA: the build says so; with it, the library's absence (ncclInfo's reason) or the missing communicator.
    const info = ncclInfo();
    const reason = !cudaCompiled ? /: peftjs was built without CUDA/
      : info.available ? /: no NCCL communicator \(ncclInit has not run/ : `: NCCL is unavailable: ${info.reason}`;
    expect(() => addon!.cudaAllReduce([], [], 'sum')).toThrow(/^cudaAllReduce: /);
    expect(() => addon!.cudaAllReduce([], [], 'mean')).toThrow(reason);
    expect(() => addon!.cudaBroadcast([], [], 0)).toThrow(/^cudaBroadcast: /);
    expect(() => addon!.cudaBroadcast([], [], 0)).toThrow(reason);
  });

  it('checks the arguments first: views, counts, op and root', () => {
    const entries = addon as unknown as Record<string, (...a: unknown[]) => unknown>;
    expect(() => entries.cudaAllReduce([new Float32Array(2)], [2], 'sum')).toThrow("cudaAllReduce: argument 'views[0]' must be a CUDA view [handle, offset], got Float32Array");
    expect(() => entries.cudaAllReduce([], [], 'max')).toThrow("cudaAllReduce: op must be 'sum' or 'mean', got 'max'");
    expect(() => entries.cudaAllReduce([], [1], 'sum')).toThrow('cudaAllReduce: views and counts differ in length (0 and 1)');
    expect(() => entries.cudaAllReduce(new Float32Array(2), [], 'sum')).toThrow("cudaAllReduce: argument 'views' must be an Array of CUDA views, got Float32Array");
    expect(() => entries.cudaAllReduce([[{}, 0]], [-1], 'sum')).toThrow("cudaAllReduce: argument 'counts[0]' must be a non-negative integer, got -1");
    expect(() => entries.cudaAllReduce([[{}, 0]], [1], 'sum')).toThrow("cudaAllReduce: argument 'views[0]' must be a CUDA buffer handle, got object");
    expect(() => entries.cudaBroadcast([], [], -1)).toThrow("cudaBroadcast: argument 'root' must be a non-negative integer, got -1");
    expect(() => entries.cudaAllReduce([], [])).toThrow('cudaAllReduce: expected 3 arguments, got 2');
  });

  it('ncclInit needs the MPI world first', () => {
    expect(() => addon!.ncclInit()).toThrow('ncclInit: MPI is not initialised (call distInit first)');
  });
});

withAddon('routing by backend', () => {
  it('host arrays and CPU tensors take the MPI path, without initialising NCCL', () => {
    expect(collectivePath(new Float32Array(3))).toBe('mpi');
    expect(collectivePath(fromArray([1, 2]))).toBe('mpi');
    expect(ncclOutcome()).toBeNull();
  });

  it('in a world of one every collective is the identity, whatever the tensor', () => {
    const t = fromArray([1, -2, 3]);
    allReduce(t, 'mean');
    allReduceTensors([t], 'sum');
    broadcastTensors([t], 0);
    expect(Array.from(t.toFloat32Array())).toEqual([1, -2, 3]);
    expect(ncclOutcome()).toBeNull();
  });

  it('the warning handler can be replaced and restored', () => {
    const mine = () => {};
    const previous = setNcclWarningHandler(mine);
    expect(setNcclWarningHandler(previous)).toBe(mine);
  });
});

const missing = addon ? mpiMissing() : 'the native addon is not loaded';
if (missing) console.warn(`test/dist/nccl.test.ts: skipping the MPI runs: ${missing}`);

(missing ? describe.skip : describe)('2 ranks agree on NCCL over MPI', () => {
  it('rank 1 without NCCL (PEFTJS_NCCL_LIB=off): no rank uses it, both name rank 1, one warning each, CPU tensors still reduce', () => {
    const { results, output } = runRanks('agree', 2, 'if [ "$OMPI_COMM_WORLD_RANK" = 1 ]; then export PEFTJS_NCCL_LIB=off; fi');
    if (results === null) throw new Error(`the ranks failed:\n${output}`);
    for (const r of results as { rank: number; first: NcclOutcome; second: NcclOutcome; enabled: boolean[]; warnings: string[]; path: string; sum: number[] }[]) {
      expect(r.first.nccl).toBe(false);
      expect(r.second).toEqual(r.first);
      expect(r.enabled).toEqual([false, false]);
      // Without CUDA every rank lacks it; with CUDA at least rank 1 does.
      expect(r.first.reason).toMatch(cudaCompiled ? /^NCCL is unavailable on rank\(s\) (0, )?1 of 2/ : /^NCCL is unavailable on rank\(s\) 0, 1 of 2 \(here, rank [01]: peftjs was built without CUDA/);
      if (r.rank === 1 && cudaCompiled) expect(r.first.reason).toContain('(here, rank 1: NCCL is disabled by PEFTJS_NCCL_LIB=off)');
      expect(r.warnings).toHaveLength(1);
      expect(r.warnings[0]).toContain(`NCCL is not used (${r.first.reason}); cuda tensors are copied to host memory and reduced over MPI`);
      expect(r.path).toBe('mpi');
      expect(r.sum).toEqual([3, 30]);
    }
  });
});

/** Why the GPU run cannot happen here, or null. */
function gpuMissing(): string | null {
  if (missing) return missing;
  if (!cudaCompiled) return 'the addon was built without CUDA';
  const devices = addon!.cudaDeviceCount();
  if (devices.count === 0) return `no CUDA device (${devices.reason})`;
  const info = ncclInfo();
  if (!info.available) return `NCCL is unavailable: ${info.reason}`;
  return null;
}
const noGpu = gpuMissing();
if (noGpu) console.warn(`test/dist/nccl.test.ts: skipping the NCCL run on GPUs: ${noGpu}`);

(noGpu ? describe.skip : describe)('NCCL on the cuda backend', () => {
  it('all-reduces and broadcasts device buffers on the stream, and carries lib/dist\'s cuda tensors', () => {
    // One rank per GPU, up to 2 (a single GPU runs a world of one: NCCL refuses two ranks on one device).
    const np = Math.min(2, addon!.cudaDeviceCount().count);
    const { results, output } = runRanks('cuda', np, 'export CUDA_VISIBLE_DEVICES=$OMPI_COMM_WORLD_LOCAL_RANK');
    if (results === null) throw new Error(`the ranks failed:\n${output}`);
    const ranks = Array.from({ length: np }, (_, i) => i + 1);  // rank r's factor is r + 1
    const total = ranks.reduce((a, b) => a + b, 0);
    for (const r of results as { outcome: NcclOutcome; waitsQueued: number; raw: Record<string, number[]>; paths: string[]; tensors: Record<string, number[]>; overlap: string }[]) {
      expect(r.outcome).toMatchObject({ nccl: true, reason: '' });
      expect(r.waitsQueued).toBe(0);
      expect(r.raw.a).toEqual([1, 2, 3, 4, 5].map((x) => x * total));
      // Element 0 lies outside the view; the mean is the float32 sum times 1/np; -0 stays -0.
      const inv = Math.fround(1 / np);
      expect(r.raw.b.slice(0, 3)).toEqual([-7, Math.fround(total * inv), Math.fround(2 * total * inv)]);
      expect(Object.is(r.raw.b[3], -0)).toBe(true);
      expect(r.raw.c).toEqual([np, np, np, np]);
      expect(r.paths).toEqual(['nccl', 'nccl']);
      const mean = Math.fround(total * inv);
      expect(r.tensors.t1).toEqual(np === 1 ? [1, 2, 3] : [1, 2, 3].map((x) => Math.fround(Math.fround(x * total) * inv)));
      expect(r.tensors.t2).toEqual(np === 1 ? [1, -1, 0.5, 4] : [mean, -mean, Math.fround(Math.fround(0.5 * total) * inv), 4]);
      expect(r.tensors.t3).toEqual([1, 2]);
      expect(r.overlap).toMatch(/^cudaAllReduce: views\[0\] and views\[1\] overlap/);
    }
  });
});
