/** How CUDA kernels see a device buffer across N-API: the [handle, offset] view the addon checks against the shapes. */
import type { DeviceView } from '../native/addon';
import type { Buf } from '../types';

export function dev(b: Buf): DeviceView {
  if (b.storage.handle === undefined) throw new Error(`cuda backend: storage on '${b.storage.device}' is not device memory`);
  return [b.storage.handle, b.offset];
}

/** A kernel's params as the addon's CUDA entries read them: every buffer a device view, everything else as it is. */
export type DeviceParams<P> = {
  [K in keyof P]: P[K] extends Buf ? DeviceView : P[K] extends Buf | null | undefined ? DeviceView | null : P[K];
};

function isBuf(v: unknown): v is Buf {
  return typeof v === 'object' && v !== null && 'storage' in v && 'offset' in v;
}

/** The params object with each buffer replaced by its device view (hostParams' counterpart, native/views.ts). */
export function deviceParams<P extends object>(p: P): DeviceParams<P> {
  const out: Record<string, unknown> = {};
  for (const key in p) {
    const v: unknown = p[key];
    out[key] = isBuf(v) ? dev(v) : v;
  }
  return out as DeviceParams<P>;
}
