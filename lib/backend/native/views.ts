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

/** A buffer field as the addon reads it: a Float32Array (null for an absent optional one). */
type HostValue<V> = V extends Buf ? Float32Array : V extends Buf | null | undefined ? Float32Array | null : V;

/**
 * A kernel's params as the addon reads them: every buffer a Float32Array, and so every buffer of a nested
 * group of fields one level down (attention's q, k, v views {buf, rowStride}); everything else as it is.
 */
export type HostParams<P> = {
  [K in keyof P]: P[K] extends Buf | null | undefined ? HostValue<P[K]>
    : P[K] extends readonly unknown[] | ArrayBufferView | null | undefined ? P[K]
    : P[K] extends object ? { [J in keyof P[K]]: HostValue<P[K][J]> } : P[K];
};

function isBuf(v: unknown): v is Buf {
  return typeof v === 'object' && v !== null && 'storage' in v && 'offset' in v;
}

/** A nested group of fields with its buffers as views (the object itself when it holds none). */
function hostGroup(g: object): object {
  let out: Record<string, unknown> | null = null;
  for (const k in g) {
    const v = (g as Record<string, unknown>)[k];
    if (isBuf(v)) (out ??= { ...g })[k] = view(v);
  }
  return out ?? g;
}

/**
 * The params object with each buffer replaced by its view, one level deep (one call shape across N-API
 * for every kernel).
 */
export function hostParams<P extends object>(p: P): HostParams<P> {
  // A copy first (one shape, as the caller's), then only the object fields replaced: faster than building it key by key.
  const out = { ...p } as Record<string, unknown>;
  for (const k in out) {
    const v = out[k];
    if (typeof v === 'object' && v !== null && !ArrayBuffer.isView(v) && !Array.isArray(v)) out[k] = isBuf(v) ? view(v) : hostGroup(v);
  }
  return out as HostParams<P>;
}
