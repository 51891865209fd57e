/**
 * The MPI world of a data-parallel run: whether this process was started by an MPI launcher (mpirun,
 * mpiexec, srun with PMI), and the addon's MPI entry points (csrc/binding/dist_binding.cc), which load Open
 * MPI at run time. Nothing here touches MPI until initMpi() is called.
 *
 * Exit: once initialised, a process that ends normally finalizes MPI (collective: the other ranks reach it
 * too), and one that ends with an error (an uncaught exception, process.exit(n != 0)) calls MPI_Abort, which
 * ends every rank of the job: the others may be waiting in a collective for this one and would otherwise
 * wait forever. A rank that dies without either (SIGKILL, the OOM killer, a lost node) is noticed by
 * mpirun, which ends the job (its message names the rank); a rank that stays alive but never reaches the
 * next collective is caught by the addon's watchdog: a rank that has waited in one collective longer than
 * PEFTJS_DIST_TIMEOUT seconds (default 1800; 0: off) says so and exits, and mpirun ends the rest
 * (csrc/runtime/mpi_loader.cc). Checkpoints are written atomically by rank 0, so the last one stays
 * loadable whichever way the job ends.
 */
import * as fs from 'fs';
import { inspect } from 'util';
import { type DeviceView, loadAddon, loadError } from '../backend/native/addon';

export interface MpiWorld {
  rank: number;
  size: number;
  /** The MPI thread level granted (1: funneled; -1 when something else initialised MPI). */
  threadLevel: number;
  /** The libmpi file loaded. */
  library: string;
}

/**
 * The addon's collective entries: over MPI (dist_binding.cc) on host Float32Arrays, and over NCCL
 * (nccl_binding.cc, see nccl.ts) on the cuda backend's device views; all change their buffers in place.
 */
export interface DistAddon {
  distInit(): MpiWorld;
  distAllReduce(data: Float32Array, op: 'sum' | 'mean'): void;
  distBroadcast(data: Float32Array, root: number): void;
  distBarrier(): void;
  distFinalize(): void;
  distAbort(code: number): never;
  ncclInit(): NcclOutcome;
  ncclInfo(): NcclInfo;
  cudaAllReduce(views: DeviceView[], counts: number[], op: 'sum' | 'mean'): void;
  cudaBroadcast(views: DeviceView[], counts: number[], root: number): void;
}

/** ncclInit's answer, the same on every rank: whether the cuda backend's collectives run on NCCL, and if not why. */
export interface NcclOutcome {
  nccl: boolean;
  /** Why not ('' when NCCL is used): the ranks lacking it, and this rank's own reason. */
  reason: string;
  /** The libnccl file loaded and its version ('' when none). */
  library: string;
  version: string;
}

/** This process's NCCL, without any communication: whether the library loads, from where, and why not. */
export interface NcclInfo {
  available: boolean;
  library: string;
  version: string;
  reason: string;
  /** Whether a communicator is up (ncclInit succeeded). */
  ready: boolean;
}

/** What the launcher put in the environment: Open MPI's OMPI_COMM_WORLD_*, or PMI_* (MPICH's Hydra, Slurm). */
export interface MpiLaunch {
  rank: number;
  size: number;
  /** The variable the size came from. */
  source: string;
}

function intVar(env: NodeJS.ProcessEnv, name: string): number | null {
  const v = env[name];
  if (v === undefined || !/^\d+$/.test(v.trim())) return null;
  return Number(v.trim());
}

/** The MPI launch this process is part of, from its environment; null when not started by an MPI launcher. */
export function mpiLaunch(env: NodeJS.ProcessEnv = process.env): MpiLaunch | null {
  for (const [sizeVar, rankVar] of [['OMPI_COMM_WORLD_SIZE', 'OMPI_COMM_WORLD_RANK'], ['PMI_SIZE', 'PMI_RANK']]) {
    const size = intVar(env, sizeVar);
    if (size !== null && size >= 1) return { rank: intVar(env, rankVar) ?? 0, size, source: sizeVar };
  }
  return null;
}

let world: MpiWorld | null = null;
let addonCache: DistAddon | null = null;

/** The addon's collective entries, loaded but with nothing initialised (ncclInfo needs no MPI world). */
export function distAddon(): DistAddon {
  if (addonCache) return addonCache;
  const addon = loadAddon() as unknown as Partial<DistAddon> | null;
  if (!addon) throw new Error(`distributed training needs the native addon, which did not load (${loadError()?.message})`);
  if (typeof addon.distInit !== 'function')
    throw new Error('distributed training: this build of the native addon has no MPI entries (rebuild it: npm run build:gyp)');
  addonCache = addon as DistAddon;
  return addonCache;
}

/** Initialises MPI once (later calls return the same world) and arranges its finalize or abort at exit. */
export function initMpi(): MpiWorld {
  if (world) return world;
  const addon = distAddon();
  const w = addon.distInit();
  world = w;
  // Node runs 'exit' listeners before it prints an uncaught error, and MPI_Abort ends the process there:
  // the error is kept here and printed (naming the rank) before aborting, or nobody would see it.
  let fatal: { error: unknown } | null = null;
  process.on('uncaughtExceptionMonitor', (error) => {
    fatal = { error };
  });
  process.on('exit', (code) => {
    if (code === 0) {
      addon.distFinalize();
      return;
    }
    if (fatal !== null) {
      const shown = fatal.error instanceof Error ? (fatal.error.stack ?? String(fatal.error)) : inspect(fatal.error);
      try {
        fs.writeSync(2, `peftjs: rank ${w.rank} of ${w.size} failed: ${shown}\n`);
      } catch {
        /* stderr closed: nothing more to do than abort */
      }
    }
    addon.distAbort(code);
  });
  return w;
}

/** The world once initMpi() ran, else null. */
export function mpiWorld(): MpiWorld | null {
  return world;
}

/** The addon's entries, for lib/dist/index.ts (after initMpi). */
export function mpi(): DistAddon {
  if (!world) throw new Error('distributed: MPI is not initialised (call initDistributed() first)');
  return distAddon();
}
