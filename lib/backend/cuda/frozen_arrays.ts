/**
 * Frozen weights on the device, uploaded once. A low-precision weight (QuantizedTensor) keeps its packed
 * bytes and scales in host typed arrays that never change after it is made; the kernels that read them
 * (gemmBf16's bBits and bQuant, dequantize's fields) would otherwise copy them up on every call. The cuda
 * backend swaps each such array for a device view of one copy made on first use ([handle, byteOffset] for
 * bytes, [handle, offset] for float32 scales), keyed by the array object and freed when the array is
 * garbage-collected. The arrays must not be written after their first use on the device: packed weights
 * are immutable, which is what makes this cache correct.
 */
import type { DeviceView, NativeAddon } from '../native/addon';

/** The typed-array fields of a packed weight (lib/ops/dequantize/kernel.ts), with how the addon reads each. */
const BYTE_FIELDS = ['data', 'nestedCodes'] as const;
const FLOAT_FIELDS = ['absmax', 'nestedAbsmax'] as const;

export class FrozenArrays {
  private readonly copies = new WeakMap<Uint8Array | Float32Array, DeviceView>();
  private readonly release: FinalizationRegistry<unknown>;

  constructor(private readonly addon: NativeAddon) {
    this.release = new FinalizationRegistry((handle) => {
      try {
        addon.cudaFree(handle);
      } catch {
        // The process is exiting or the block is already gone: nothing left to free.
      }
    });
  }

  /** A device view of the array's values, uploaded on first use (bytes: [handle, byteOffset 0]). */
  view(a: Uint8Array | Float32Array): DeviceView {
    let v = this.copies.get(a);
    if (v === undefined) {
      v = this.upload(a);
      this.copies.set(a, v);
    }
    return v;
  }

  /** A kernel's params with its packed-weight arrays (top level, and in bQuant) and bBits as device views. */
  params<P extends object>(p: P): P {
    const out = { ...p } as Record<string, unknown>;
    this.swapPacked(out);
    if (out.bBits instanceof Uint8Array) out.bBits = this.view(out.bBits);
    if (typeof out.bQuant === 'object' && out.bQuant !== null) {
      const q = { ...(out.bQuant as Record<string, unknown>) };
      this.swapPacked(q);
      out.bQuant = q;
    }
    return out as P;
  }

  private swapPacked(fields: Record<string, unknown>): void {
    for (const k of BYTE_FIELDS) if (fields[k] instanceof Uint8Array) fields[k] = this.view(fields[k] as Uint8Array);
    for (const k of FLOAT_FIELDS) if (fields[k] instanceof Float32Array) fields[k] = this.view(fields[k] as Float32Array);
  }

  private upload(a: Uint8Array | Float32Array): DeviceView {
    // The addon uploads whole float32 values: bytes go up padded to a multiple of four.
    const floats = a instanceof Float32Array ? a : (() => {
      const padded = new Uint8Array(Math.ceil(a.length / 4) * 4);
      padded.set(a);
      return new Float32Array(padded.buffer);
    })();
    const handle = this.addon.cudaAlloc(floats.length);
    try {
      this.addon.cudaUpload([handle, 0], floats, floats.length);
    } catch (e) {
      this.addon.cudaFree(handle);
      throw e;
    }
    this.release.register(a, handle);
    return [handle, 0];
  }
}
