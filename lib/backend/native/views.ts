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
