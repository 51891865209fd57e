/**
 * NCCL for the cuda backend's tensors in a data-parallel run: collectives on device memory, queued on the
 * backend's stream (csrc/binding/nccl_binding.cc, cuda/nccl.cu), where the MPI path would copy every tensor
 * to the host and back. NCCL is loaded at run time (libnccl.so.2, or PEFTJS_NCCL_LIB; off / 0 / none
 * disables it) and bootstrapped over the MPI world: rank 0's unique id travels by MPI broadcast.
 *
 * The first collective on a cuda tensor initialises NCCL on every rank (every rank makes the same calls in
 * the same order, so they all reach it together) and the ranks agree: NCCL is used only if every rank has it.
 * Otherwise cuda tensors take the MPI path through host memory, after one warning that says why.
 */
import { dev } from '../backend/cuda/device_params';
import type { Tensor } from '../tensor/tensor';
import { distAddon, type DistAddon, mpi, type NcclInfo, type NcclOutcome } from './mpi';

export type { NcclInfo, NcclOutcome } from './mpi';

/** How a collective moves a tensor's values: NCCL on the device, or MPI on a host copy (or on host memory itself). */
export type CollectivePath = 'nccl' | 'mpi';

let outcome: NcclOutcome | null = null;

/** The addon's NCCL entries, or an error saying the build predates them. */
function ncclEntries(addon: DistAddon): DistAddon {
  if (typeof addon.ncclInit !== 'function')
    throw new Error('distributed: this build of the native addon has no NCCL entries (rebuild it: npm run build:native)');
  return addon;
}
let warn: (message: string) => void = (m) => console.warn(m);

/** This process's NCCL, without any communication (and without an MPI world): whether it loads, and why not. */
export function ncclInfo(): NcclInfo {
  return ncclEntries(distAddon()).ncclInfo();
}

/**
 * Whether the cuda backend's collectives run on NCCL. The first call initialises it: collective, every rank
 * must make it at the same point (the first collective on a cuda tensor does). A world where some rank
 * lacks NCCL (or its communicator fails) answers false everywhere, and says why once.
 */
export function ncclEnabled(): boolean {
  if (outcome === null) {
    outcome = ncclEntries(mpi()).ncclInit();
    if (!outcome.nccl)
      warn(`peftjs distributed: NCCL is not used (${outcome.reason}); cuda tensors are copied to host memory and ` +
        'reduced over MPI instead, a device-host round trip per collective');
  }
  return outcome.nccl;
}

/** ncclInit's answer once a collective on a cuda tensor has asked for it, else null. */
export function ncclOutcome(): NcclOutcome | null {
  return outcome;
}

/** Where the one-time "NCCL is not used" warning goes (console.warn by default); returns the previous handler. */
export function setNcclWarningHandler(handler: (message: string) => void): (message: string) => void {
  const previous = warn;
  warn = handler;
  return previous;
}

/** Which path a collective on x takes. Host arrays and CPU tensors: MPI, with no NCCL involved; cuda tensors: NCCL when enabled. */
export function collectivePath(x: Tensor | Float32Array): CollectivePath {
  if (x instanceof Float32Array || x.device !== 'cuda') return 'mpi';
  return ncclEnabled() ? 'nccl' : 'mpi';
}

/** The device views and sizes of contiguous cuda tensors, as the NCCL entries take them. */
function spans(tensors: Tensor[], op: string): { views: ReturnType<typeof dev>[]; counts: number[] } {
  for (const t of tensors)
    if (!t.isContiguous()) throw new Error(`distributed: tensor ${t.toString()} is not contiguous; collectives write into contiguous tensors only`);
  return { views: tensors.map((t) => dev(t.buf(op))), counts: tensors.map((t) => t.size) };
}

/** Sums (or averages) cuda tensors over all ranks in place, in one NCCL group on the device's stream. */
export function ncclAllReduce(tensors: Tensor[], op: 'sum' | 'mean'): void {
  const { views, counts } = spans(tensors, 'allReduce');
  mpi().cudaAllReduce(views, counts, op);
}

/** Copies root's cuda tensors into every rank's, in place, in one NCCL group on the device's stream. */
export function ncclBroadcast(tensors: Tensor[], root: number): void {
  const { views, counts } = spans(tensors, 'broadcast');
  mpi().cudaBroadcast(views, counts, root);
}
