/**
 * Collectives for data-parallel training over MPI (Open MPI, loaded at run time by the addon; see mpi.ts):
 * the world (rank, size), and allReduce / broadcast / barrier on tensors' float32 values or on host
 * Float32Arrays. Tensors of the cuda backend go through NCCL on the device when every rank has it (nccl.ts),
 * else through host copies over MPI, as tensors of any other device backend. Every rank must make the same
 * calls in the same order with the same sizes, as with torch.distributed. Without initDistributed() the process is a world of one: rank 0 of size 1, and every
 * collective is the identity.
 */
import { backend } from '../backend';
import type { Tensor } from '../tensor/tensor';
import { initMpi, mpi, mpiLaunch, mpiWorld, type MpiWorld } from './mpi';
import { collectivePath, ncclAllReduce, ncclBroadcast } from './nccl';

export { mpiLaunch, type MpiLaunch, type MpiWorld } from './mpi';
export { collectivePath, ncclEnabled, ncclInfo, ncclOutcome, setNcclWarningHandler, type CollectivePath, type NcclInfo, type NcclOutcome } from './nccl';

export type ReduceOp = 'sum' | 'mean';

/** Initialises MPI (idempotent) and returns this process's place in the world. */
export function initDistributed(): MpiWorld {
  const w = initMpi();
  const launch = mpiLaunch();
  // A launcher's environment and MPI's own answer disagreeing means a library from another MPI than the one
  // that started the job (e.g. MPICH's mpiexec with Open MPI's libmpi): every process would be a world of one.
  if (launch && launch.size !== w.size)
    throw new Error(`initDistributed: the launcher set ${launch.source}=${launch.size} but MPI (${w.library}) reports a world of ${w.size}; ` +
      'start the job with the mpirun of the MPI that PEFTJS_MPI_LIB (default libmpi.so.40, Open MPI) names');
  return w;
}

/** Ranks in the world: 1 until initDistributed(). */
export function worldSize(): number {
  return mpiWorld()?.size ?? 1;
}

/** This process's rank: 0 until initDistributed(). */
export function rank(): number {
  return mpiWorld()?.rank ?? 0;
}

/** Whether this process is rank 0, the one that writes logs, checkpoints and adapters. */
export function isMainProcess(): boolean {
  return rank() === 0;
}

/** Whether this process takes part in a world of more than one rank. */
export function isDistributed(): boolean {
  return worldSize() > 1;
}

/** The host memory of a contiguous float32 CPU tensor (no copy), or null when values must be copied. */
function hostView(t: Tensor): Float32Array | null {
  if (t.device !== 'cpu' || !t.isContiguous()) return null;
  const d = t.data;
  return d instanceof Float32Array ? d : null;
}

/** Writes values into a contiguous tensor on any backend. */
function writeBack(t: Tensor, values: Float32Array): void {
  if (!t.isContiguous()) throw new Error(`distributed: tensor ${t.toString()} is not contiguous; collectives write into contiguous tensors only`);
  backend(t.storage.backend).write(t.buf('distributed'), values);
}

/** The values a collective works on, and how to put the result back into the tensor. */
function valuesOf(x: Tensor | Float32Array): { values: Float32Array; commit: () => void } {
  if (x instanceof Float32Array) return { values: x, commit: () => {} };
  const view = hostView(x);
  if (view) return { values: view, commit: () => {} };
  const values = x.toFloat32Array();
  return { values, commit: () => writeBack(x, values) };
}

/** Sums (or averages) x over all ranks, in place. */
export function allReduce(x: Tensor | Float32Array, op: ReduceOp = 'sum'): void {
  if (worldSize() === 1) return;
  if (!(x instanceof Float32Array) && collectivePath(x) === 'nccl') return ncclAllReduce([x], op);
  const { values, commit } = valuesOf(x);
  mpi().distAllReduce(values, op);
  commit();
}

/** Copies root's x into every rank's x, in place. */
export function broadcast(x: Tensor | Float32Array, root = 0): void {
  if (worldSize() === 1) return;
  if (!(x instanceof Float32Array) && collectivePath(x) === 'nccl') return ncclBroadcast([x], root);
  const { values, commit } = valuesOf(x);
  mpi().distBroadcast(values, root);
  commit();
}

/** Waits until every rank has reached it. */
export function barrier(): void {
  if (worldSize() === 1) return;
  mpi().distBarrier();
}

/** 16M floats (64 MiB): big enough that the per-call latency vanishes, small enough to bound the copy. */
export const DEFAULT_BUCKET_FLOATS = 1 << 24;

/**
 * All-reduces many arrays as if they were one concatenation, in buckets of at most bucketFloats: each
 * bucket is one MPI call (one latency), so a LoRA model's hundreds of small gradients cost one or a few
 * calls. Arrays longer than a bucket are reduced in place on their own (no copy). Changes the arrays.
 */
export function allReduceFlat(arrays: Float32Array[], op: ReduceOp = 'sum', bucketFloats = DEFAULT_BUCKET_FLOATS): void {
  if (worldSize() === 1) return;
  if (!Number.isInteger(bucketFloats) || bucketFloats < 1) throw new RangeError(`allReduceFlat: bucketFloats must be a positive integer, got ${bucketFloats}`);
  const small = arrays.filter((a) => a.length > 0 && a.length <= bucketFloats);
  for (const a of arrays) if (a.length > bucketFloats) mpi().distAllReduce(a, op);
  const total = small.reduce((n, a) => n + a.length, 0);
  if (total === 0) return;
  const bucket = new Float32Array(Math.min(total, bucketFloats));
  let members: Float32Array[] = [];
  let filled = 0;
  const flush = () => {
    const view = bucket.subarray(0, filled);
    mpi().distAllReduce(view, op);
    let at = 0;
    for (const m of members) {
      m.set(view.subarray(at, at + m.length));
      at += m.length;
    }
    members = [];
    filled = 0;
  };
  for (const a of small) {
    if (filled + a.length > bucket.length) flush();
    bucket.set(a, filled);
    members.push(a);
    filled += a.length;
  }
  flush();
}

/** The tensors that NCCL takes (cuda tensors, when it is enabled) and the rest, each in the given order. */
function splitByPath(tensors: Tensor[]): { nccl: Tensor[]; mpi: Tensor[] } {
  const nccl: Tensor[] = [];
  const rest: Tensor[] = [];
  for (const t of tensors) (collectivePath(t) === 'nccl' ? nccl : rest).push(t);
  return { nccl, mpi: rest };
}

/**
 * allReduceFlat over tensors' values (written back into each tensor). cuda tensors go to NCCL in one group
 * (queued on the device's stream: no host copy, no wait) when every rank has it; the rest in MPI buckets.
 */
export function allReduceTensors(tensors: Tensor[], op: ReduceOp = 'sum', bucketFloats = DEFAULT_BUCKET_FLOATS): void {
  if (worldSize() === 1) return;
  const { nccl, mpi: viaMpi } = splitByPath(tensors);
  if (nccl.length > 0) ncclAllReduce(nccl, op);
  if (viaMpi.length === 0) return;
  const vs = viaMpi.map(valuesOf);
  allReduceFlat(vs.map((v) => v.values), op, bucketFloats);
  for (const v of vs) v.commit();
}

/** Copies root's tensors into every rank's: cuda ones in one NCCL group when enabled, the others one MPI call each (in place for CPU tensors). */
export function broadcastTensors(tensors: Tensor[], root = 0): void {
  if (worldSize() === 1) return;
  const { nccl, mpi: viaMpi } = splitByPath(tensors);
  if (nccl.length > 0) ncclBroadcast(nccl, root);
  for (const t of viaMpi) broadcast(t, root);
}

/**
 * Every rank's list of non-negative integers (each below 2^48; all ranks pass lists of the same length):
 * result[r] is rank r's list. One all-reduce: each rank writes its values, cut into 16-bit pieces that
 * float32 holds exactly, into its own row of a zero matrix, and the sum of the rows is every row.
 */
export function allGatherIntegers(values: number[]): number[][] {
  for (const v of values)
    if (!Number.isInteger(v) || v < 0 || v >= 2 ** 48) throw new RangeError(`allGatherIntegers: values must be integers in [0, 2^48), got ${v}`);
  const size = worldSize();
  if (size === 1) return [values.slice()];
  const pieces = 3;
  const row = values.length * pieces;
  const m = new Float32Array(size * row);
  values.forEach((v, i) => {
    for (let p = 0; p < pieces; p++) m[rank() * row + i * pieces + p] = Math.floor(v / 2 ** (16 * p)) % 65536;
  });
  mpi().distAllReduce(m, 'sum');
  return Array.from({ length: size }, (_, r) =>
    values.map((_, i) => {
      let v = 0;
      for (let p = pieces - 1; p >= 0; p--) v = v * 65536 + m[r * row + i * pieces + p];
      return v;
    }));
}
