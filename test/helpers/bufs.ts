/** Raw backend buffers for kernel specs that call Backend methods directly (no tensors, no autograd). */
import type { Backend, Buf } from '../../lib';

/** A buffer holding values, placed at `offset` inside a larger storage so offsets are exercised too. */
export function bufOf(be: Backend, values: ArrayLike<number>, offset = 0): Buf {
  const storage = be.alloc(values.length + offset + 1);
  const buf = { storage, offset };
  be.write(buf, Float32Array.from(values));
  return buf;
}

export function zerosBuf(be: Backend, n: number, offset = 0): Buf {
  return bufOf(be, new Float32Array(n), offset);
}

export function readBuf(be: Backend, buf: Buf, n: number): Float32Array {
  return be.read(buf, n);
}


