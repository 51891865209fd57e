/** How CUDA kernels see a device buffer across N-API: the [handle, offset] view the addon checks against the shapes. */
import type { DeviceView } from '../native/addon';
import type { Buf } from '../types';

export function dev(b: Buf): DeviceView {
  if (b.storage.handle === undefined) throw new Error(`cuda backend: storage on '${b.storage.device}' is not device memory`);
  return [b.storage.handle, b.offset];
}

/** A buffer field as the addon's CUDA entries read it: a device view (null for an absent optional one). */
type DeviceValue<V> = V extends Buf ? DeviceView : V extends Buf | null | undefined ? DeviceView | null : V;

/**
 * A kernel's params as the addon's CUDA entries read them: every buffer a device view, and so every buffer of
 * a nested group of fields one level down (attention's q, k, v views {buf, rowStride}); everything else
 * (Int32Array ids and targets, packed weights' bytes) as it is: the entries upload those themselves.
 */
export type DeviceParams<P> = {
  [K in keyof P]: P[K] extends Buf | null | undefined ? DeviceValue<P[K]>
    : P[K] extends readonly unknown[] | ArrayBufferView | null | undefined ? P[K]
    : P[K] extends object ? { [J in keyof P[K]]: DeviceValue<P[K][J]> } : P[K];
};

function isBuf(v: unknown): v is Buf {
  return typeof v === 'object' && v !== null && 'storage' in v && 'offset' in v;
}

/** A nested group of fields with its buffers as device views (the object itself when it holds none). */
function deviceGroup(g: object): object {
  let out: Record<string, unknown> | null = null;
  for (const k in g) {
    const v = (g as Record<string, unknown>)[k];
    if (isBuf(v)) (out ??= { ...g })[k] = dev(v);
  }
  return out ?? g;
}

/** The params object with each buffer replaced by its device view, one level deep (hostParams' counterpart, native/views.ts). */
export function deviceParams<P extends object>(p: P): DeviceParams<P> {
  const out = { ...p } as Record<string, unknown>;
  for (const k in out) {
    const v = out[k];
    if (typeof v === 'object' && v !== null && !ArrayBuffer.isView(v) && !Array.isArray(v)) out[k] = isBuf(v) ? dev(v) : deviceGroup(v);
  }
  return out as DeviceParams<P>;
}
