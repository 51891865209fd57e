/**
 * Output memory of the native kernels. On the machines measured a fresh multi-MB Float32Array costs more in
 * page faults (first touch of zero pages, ~12 us per 4 KiB page on a VM) than the kernel that fills it: a
 * 6 MB matmul output takes ~7-20 ms to fault in, the GEMM itself ~6 ms. So outputs of POOL_MIN_FLOATS
 * floats and more are recycled: when the backend deletes the last dataId whose values are a view of an
 * output array, and those values never escaped, the array's memory goes to a free list by length (its old
 * ArrayBuffer is detached on the way, by a structuredClone transfer, so a view that was missed reads as
 * empty, never as another tensor's data), and the next output of that length reuses it warm.
 * Values escape when they leave the backend's kernels: readSync/read (dataSync, data, arraySync,
 * bufferSync outside a kernel, moving data to another backend) and `backend.data.get` called outside a
 * kernel. Escaped arrays are never recycled: they are plain V8 ArrayBuffers, which V8 frees at its next GC
 * once the user drops them (no event-loop turn needed, unlike external buffers' finalizers), so even
 * then the allocator hands that memory out again warm.
 * Fresh outputs (first use of a length, and every output after an escape) are not zero-filled and have
 * their pages populated in one system call (freshFloats): a read 6 MB matmul output cost ~8.5 ms instead
 * of ~10-12 once the allocator had warmed up (2 cores, VM). In the first ~30 runs glibc still returns
 * freed arrays to the system (its adaptive mmap and trim thresholds) and faulting them back in dominates.
 * The free list holds at most PEFTJS_TFJS_POOL_BYTES (default 1 GiB; when full it is emptied and starts
 * over, so lengths no longer asked for do not pin it); emptyPool() releases it.
 */
import { tfjsAddon } from './native';

/** Outputs this small are plain Float32Arrays (their faults cost less than the bookkeeping). */
export const POOL_MIN_FLOATS = 4096;

const POOL_LIMIT_BYTES = Number(process.env.PEFTJS_TFJS_POOL_BYTES ?? 2 ** 30);

interface Block {
  /** dataIds (in any peftjs backend) whose values are a view of this array. */
  aliases: number;
  /** Seen outside the kernels: never recycled. */
  escaped: boolean;
  length: number;
}

const blocks = new WeakMap<ArrayBuffer, Block>();
const free = new Map<number, Float32Array[]>();
let freeBytes = 0;
let depth = 0;
let stats = { pooled: 0, reused: 0, recycled: 0, escaped: 0 };

/** Runs a kernel (or a backend method) with the backend's own accesses not counted as escapes. */
export function inKernel<T>(f: () => T): T {
  depth++;
  try {
    return f();
  } finally {
    depth--;
  }
}

export function insideKernel(): boolean {
  return depth > 0;
}

/** Fresh outputs this large have their pages made resident in one system call (see freshFloats). */
const POPULATE_MIN_FLOATS = 1 << 16;

/**
 * A new output array. Its contents are left unset (Buffer.allocUnsafeSlow: no zero fill, the kernel writes
 * every element, as it does into a recycled array), and a large one's pages are populated up front: the
 * memory of a fresh multi-MB array is untouched pages that would otherwise fault in one 4 KiB page at a
 * time as the kernel writes them (csrc/runtime/populate_pages.h). Outputs a user reads escape the pool and
 * come here every time, so this is the cost of `await y.data()` after each op.
 */
function freshFloats(n: number): Float32Array {
  const bytes = Buffer.allocUnsafeSlow(n * 4);
  const out = new Float32Array(bytes.buffer, bytes.byteOffset, n);
  if (n >= POPULATE_MIN_FLOATS) tfjsAddon().tfjsPopulatePages({ out });
  if (freshFill !== null) out.fill(freshFill);
  return out;
}

let freshFill: number | null = null;

/** Tests: fills every fresh output with `value` (NaN shows a kernel that leaves elements unwritten); null: off. */
export function setFreshOutputFill(value: number | null): void {
  freshFill = value;
}

/** A float32 output of n elements, its contents unset (recycled or fresh): the kernel must write every element. */
export function allocFloats(n: number): Float32Array {
  if (n < POOL_MIN_FLOATS) return new Float32Array(n);
  const list = free.get(n);
  let out = list?.pop();
  if (out) {
    freeBytes -= n * 4;
    stats.reused++;
  } else {
    out = freshFloats(n);
  }
  blocks.set(out.buffer as ArrayBuffer, { aliases: 0, escaped: false, length: n });
  stats.pooled++;
  return out;
}

/** The array's memory into the free list (its ArrayBuffer detached), or to the GC when the list is full. */
function recycle(buffer: ArrayBuffer, b: Block): void {
  blocks.delete(buffer);
  stats.recycled++;
  if (buffer.byteLength !== b.length * 4 || b.length * 4 > POOL_LIMIT_BYTES) return;
  if (freeBytes + b.length * 4 > POOL_LIMIT_BYTES) emptyPool();  // lengths no longer asked for do not pin the cap
  const moved = structuredClone(buffer, { transfer: [buffer] });
  let list = free.get(b.length);
  if (!list) free.set(b.length, (list = []));
  list.push(new Float32Array(moved));
  freeBytes += b.length * 4;
}

/** Drops every free array (the GC then returns the memory). */
export function emptyPool(): void {
  free.clear();
  freeBytes = 0;
}

/** The pool's block under these values, if they are one. */
export function blockOf(values: unknown): [ArrayBuffer, Block] | null {
  if (!values || !ArrayBuffer.isView(values)) return null;
  const buffer = (values as Float32Array).buffer as ArrayBuffer;
  const b = blocks.get(buffer);
  return b ? [buffer, b] : null;
}

export function addAlias(values: unknown): ArrayBuffer | null {
  const hit = blockOf(values);
  if (!hit) return null;
  hit[1].aliases++;
  return hit[0];
}

/** One dataId over the array is gone: the array is recycled when it was the last and the values never escaped. */
export function dropAlias(buffer: ArrayBuffer): void {
  const b = blocks.get(buffer);
  if (!b) return;
  b.aliases--;
  if (b.aliases > 0 || b.escaped) return;
  recycle(buffer, b);
}

/** A scratch array from allocFloats that no dataId took: recycled now (small plain arrays: nothing to do). */
export function freeScratch(values: Float32Array): void {
  const hit = blockOf(values);
  if (!hit || hit[1].aliases > 0 || hit[1].escaped) return;
  recycle(hit[0], hit[1]);
}

export function markEscaped(values: unknown): void {
  const hit = blockOf(values);
  if (hit && !hit[1].escaped) {
    hit[1].escaped = true;
    stats.escaped++;
  }
}

/** Counts since start (or the last reset): outputs handed out (of them reused), recycled at dispose, escaped; bytes free. */
export function poolStats(reset = false): { pooled: number; reused: number; recycled: number; escaped: number; freeBytes: number } {
  const s = { ...stats, freeBytes };
  if (reset) stats = { pooled: 0, reused: 0, recycled: 0, escaped: 0 };
  return s;
}
