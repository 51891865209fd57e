/** The native CPU backend: the C++ kernels of csrc/ through the addon, on 64-byte aligned host memory. */
import { KernelTable, pick, PRIMITIVE_KERNELS } from '../registry';
import type { Backend, BinaryOpName, Buf, GemmParams, RandomKind, ReduceOpName, Storage, UnaryOpName } from '../types';
import type { NativeAddon } from './addon';
import { nativeAttentionKernels } from './attention';
import { nativeModelKernels } from './model';
import { nativeOptimKernels } from './optim';
import { nativePeftKernels } from './peft';
import { view } from './views';

const EMPTY = new Float32Array(0);

/** Buffer sizes come in classes (four per power of two) so freed buffers fit later requests. */
export function sizeClass(floats: number): number {
  if (floats <= 16) return 16;
  const top = 2 ** Math.floor(Math.log2(floats));
  const step = Math.max(top / 4, 16);
  return Math.ceil(floats / step) * step;
}

export class NativeBackend implements Backend {
  readonly name = 'native' as const;
  readonly device = 'cpu' as const;
  private readonly buffers = new WeakMap<Storage, ArrayBuffer>();
  /** Every kernel: the primitives (methods below) and the C++ PEFT, model, attention and optimizer kernels. */
  readonly kernels: KernelTable;

  constructor(readonly addon: NativeAddon) {
    this.kernels = new KernelTable(this.name)
      .register(pick(this, PRIMITIVE_KERNELS), this)
      .register({ ...nativePeftKernels, ...nativeModelKernels, ...nativeAttentionKernels, ...nativeOptimKernels }, this);
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

  gemm(p: GemmParams): void {
    this.addon.gemm(p.transA, p.transB, p.m, p.n, p.k, p.alpha, view(p.a), p.lda, view(p.b), p.ldb, p.beta,
      view(p.c), p.ldc, p.bias ? view(p.bias) : null);
  }

  binary(op: BinaryOpName, a: Buf, b: Buf, out: Buf, n: number, bLength: number): void {
    this.addon.binary(op, view(a), view(b), view(out), n, bLength);
  }

  scale(a: Buf, out: Buf, n: number, alpha: number, beta: number): void {
    this.addon.scale(view(a), view(out), n, alpha, beta);
  }

  unary(op: UnaryOpName, a: Buf, out: Buf, n: number): void {
    this.addon.unary(op, view(a), view(out), n);
  }

  rowReduce(op: ReduceOpName, a: Buf, out: Buf, rows: number, cols: number): void {
    this.addon.rowReduce(op, view(a), view(out), rows, cols);
  }

  softmax(a: Buf, out: Buf, rows: number, cols: number): void {
    this.addon.softmax(view(a), view(out), rows, cols);
  }

  stridedCopy(src: Buf, dst: Buf, shape: number[], strides: number[]): void {
    this.addon.stridedCopy(view(src), view(dst), shape, strides);
  }

  fill(out: Buf, n: number, value: number): void {
    this.addon.fill(view(out), n, value);
  }

  randomFill(kind: RandomKind, out: Buf, n: number, seed: number, offset: number, p0: number, p1: number): void {
    this.addon.randomFill(kind, view(out), n, seed, offset, p0, p1);
  }

  synchronize(): void {}
}

