/**
 * What the reference kernels (lib/ops/<op>/reference.ts) share: float arrays of either precision, the
 * js backend's host memory behind a Buf, and the counter-based random stream the native kernels draw from.
 * The reference math runs on any Arr, so the same loops serve the js backend (float32) and the
 * finite-difference gradient checks (float64).
 */
import { bitsToUniform, philox4x32 } from '../backend/js/philox';
import type { Buf } from '../backend/types';

export type Arr = Float32Array | Float64Array;
type Ctor = { new (n: number): Arr };

/** A zeroed array of n elements of the same precision as `like`. */
export function alloc(like: Arr, n: number): Arr {
  return new (like.constructor as Ctor)(n);
}

/** The storage's host memory from the buffer's offset on (a view, no copy). */
export function at(b: Buf): Float32Array {
  if (b.storage.data === undefined) throw new Error(`js backend: storage on '${b.storage.device}' is not host memory`);
  return b.storage.data.subarray(b.offset);
}

export function opt(b: Buf | null): Float32Array | null {
  return b === null ? null : at(b);
}

/** Copies values into dst's memory (nothing when dst is null). */
export function put(dst: Buf | null, values: Arr): void {
  if (dst !== null) at(dst).set(values);
}

export function sigmoid(v: number): number {
  return 1 / (1 + Math.exp(-v));
}

/** The uniform in [0, 1) for element `index` of stream `seed`, as the native kernels draw it. */
export function streamUniform(seed: number, index: number): number {
  return bitsToUniform(philox4x32(Math.floor(index / 4), seed)[index % 4]);
}

/** Inverted dropout's factor for element `index`: 0 when dropped, 1 / (1 - p) when kept. */
export function dropoutFactor(seed: number, index: number, p: number): number {
  if (p === 0) return 1;
  return streamUniform(seed, index) >= p ? 1 / (1 - p) : 0;
}
