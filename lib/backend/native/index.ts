/** The native CPU backend: the C++ kernels of csrc/ through the addon, on 64-byte aligned host memory. */
import { OP_KERNEL_NAMES, type OpKernels } from '../../ops';
import { checkedPrimitives } from '../primitive_checks';
import { KernelTable } from '../registry';
import type { Backend, Buf, PrimitiveKernels, Storage } from '../types';
import type { NativeAddon } from './addon';
import { hostParams, view } from './views';

const EMPTY = new Float32Array(0);

/** Buffer sizes come in classes (four per power of two) so freed buffers fit later requests. */
export function sizeClass(floats: number): number {
  if (floats <= 16) return 16;
  const top = 2 ** Math.floor(Math.log2(floats));
  const step = Math.max(top / 4, 16);
  return Math.ceil(floats / step) * step;
}

/** The primitives: each passes its params object to the addon, buffers as views (the addon checks them too). */
const nativePrimitiveKernels: PrimitiveKernels & ThisType<{ addon: NativeAddon }> = {
  gemm(p) { this.addon.gemm(hostParams(p)); },
  binary(p) { this.addon.binary(hostParams(p)); },
  scale(p) { this.addon.scale(hostParams(p)); },
  unary(p) { this.addon.unary(hostParams(p)); },
  rowReduce(p) { this.addon.rowReduce(hostParams(p)); },
  softmax(p) { this.addon.softmax(hostParams(p)); },
  stridedCopy(p) { this.addon.stridedCopy(hostParams(p)); },
  fill(p) { this.addon.fill(hostParams(p)); },
  randomFill(p) { this.addon.randomFill(hostParams(p)); },
};

/**
 * Every op kernel (lib/ops) is the addon's function of the same name (csrc/binding/<op>_binding.cc), called
 * with the kernel's params object, buffers as views.
 */
function nativeOpKernels(addon: NativeAddon): OpKernels {
  const entries = OP_KERNEL_NAMES.map((name) => {
    const entry = addon[name] as (p: unknown) => unknown;
    if (typeof entry !== 'function') throw new Error(`native backend: the addon has no '${name}' function (rebuild it: npm run build:gyp)`);
    return [name, (p: object) => entry(hostParams(p))];
  });
  return Object.fromEntries(entries) as OpKernels;
}

/** The primitive methods are the registry's checked kernels (checkedPrimitives), set in the constructor. */
export interface NativeBackend extends PrimitiveKernels {}

export class NativeBackend implements Backend {
  readonly name = 'native' as const;
  readonly device = 'cpu' as const;
  private readonly buffers = new WeakMap<Storage, ArrayBuffer>();
  /** Every kernel: the primitives (also this backend's methods) and every op's C++ kernels. */
  readonly kernels: KernelTable;

  constructor(readonly addon: NativeAddon) {
    this.kernels = new KernelTable(this.name)
      .register({ ...nativePrimitiveKernels, ...nativeOpKernels(addon) }, this);
    Object.assign(this, checkedPrimitives(this.kernels));
  }

  /**
   * Freed buffers are kept by size class and handed out again. Creating an external ArrayBuffer costs an
   * N-API call and leaves Node cleanup work it only does on an event-loop turn, so a synchronous training
   * loop that allocated per op grew its RSS by ~30 MB per 1,000 small steps; reuse makes it flat.
   */
  private readonly pool = new Map<number, ArrayBuffer[]>();
  private pooledBytes = 0;
  /** The most bytes kept for reuse (PEFTJS_CACHE_BYTES, default 2 GiB, as the native allocator's cache). */
  private readonly poolLimit = Number(process.env.PEFTJS_CACHE_BYTES ?? 2 ** 31);

  alloc(size: number): Storage {
    const floats = sizeClass(size);
    let buffer = this.pool.get(floats)?.pop();
    if (buffer !== undefined) this.pooledBytes -= floats * 4;
    else buffer = this.addon.alloc(floats);
    const storage: Storage = { backend: 'native', device: 'cpu', size, data: new Float32Array(buffer, 0, size), refs: 0, disposed: false };
    this.buffers.set(storage, buffer);
    return storage;
  }

  free(storage: Storage): void {
    const buffer = this.buffers.get(storage);
    storage.disposed = true;
    // A kernel handed this storage now sees 0 elements (the addon checks lengths), never reused memory.
    (storage as { data?: Float32Array }).data = EMPTY;
    this.buffers.delete(storage);
    if (buffer === undefined || buffer.byteLength === 0) return;
    if (this.pooledBytes + buffer.byteLength <= this.poolLimit) {
      const floats = buffer.byteLength / 4;
      const list = this.pool.get(floats);
      if (list) list.push(buffer);
      else this.pool.set(floats, [buffer]);
      this.pooledBytes += buffer.byteLength;
    } else this.addon.free(buffer);
  }

  /** Returns every pooled buffer to the addon (and its allocator cache to the system). */
  emptyCache(): void {
    for (const list of this.pool.values()) for (const b of list) this.addon.free(b);
    this.pool.clear();
    this.pooledBytes = 0;
    this.addon.emptyCache();
  }

  write(dst: Buf, values: Float32Array): void {
    view(dst).set(values);
  }

  read(src: Buf, size: number): Float32Array {
    return view(src).slice(0, size);
  }

  synchronize(): void {}
}

