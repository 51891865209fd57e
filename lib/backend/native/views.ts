/** How native kernels see a CPU buffer: the Float32Array from its offset on (the addon checks lengths against shapes). */
import type { Buf } from '../types';

export function view(b: Buf): Float32Array {
  const data = b.storage.data;
  if (data === undefined) throw new Error(`native backend: storage on '${b.storage.device}' is not host memory`);
  return b.offset === 0 ? data : data.subarray(b.offset);
}

/** view(), or null for an absent optional buffer. */
export function opt(b: Buf | null): Float32Array | null {
  return b === null ? null : view(b);
}

/** A kernel's params as the addon reads them: every buffer a Float32Array, everything else as it is. */
export type HostParams<P> = {
  [K in keyof P]: P[K] extends Buf ? Float32Array : P[K] extends Buf | null | undefined ? Float32Array | null : P[K];
};

function isBuf(v: unknown): v is Buf {
  return typeof v === 'object' && v !== null && 'storage' in v && 'offset' in v;
}

/** The params object with each buffer replaced by its view (one call shape across N-API for every kernel). */
export function hostParams<P extends object>(p: P): HostParams<P> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(p)) out[k] = isBuf(v) ? view(v) : v;
  return out as HostParams<P>;
}
