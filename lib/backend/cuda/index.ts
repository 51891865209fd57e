/**
 * The CUDA backend: the addon's CUDA kernels on device memory. Storage holds an opaque device handle;
 * kernels receive [handle, offset] views and the addon checks them against the shapes.
 */
import { KernelTable, pick, PRIMITIVE_KERNELS } from '../registry';
import type { Backend, BinaryOpName, Buf, GemmParams, RandomKind, ReduceOpName, Storage, UnaryOpName } from '../types';
import type { DeviceView, NativeAddon } from '../native/addon';

function dev(b: Buf): DeviceView {
  if (b.storage.handle === undefined) throw new Error(`cuda backend: storage on '${b.storage.device}' is not device memory`);
  return [b.storage.handle, b.offset];
}

export class CudaBackend implements Backend {
  readonly name = 'cuda' as const;
  readonly device = 'cuda' as const;
  /** The primitives only so far: ops that need another kernel say so, naming it and this backend. */
  readonly kernels: KernelTable;

  constructor(readonly addon: NativeAddon) {
    this.kernels = new KernelTable(this.name).register(pick(this, PRIMITIVE_KERNELS), this);
  }

  alloc(size: number): Storage {
    return { backend: 'cuda', device: 'cuda', size, handle: this.addon.cudaAlloc(size), refs: 0, disposed: false };
  }

  free(storage: Storage): void {
    storage.disposed = true;
    this.addon.cudaFree(storage.handle);
  }

  write(dst: Buf, values: Float32Array): void {
    this.addon.cudaUpload(dev(dst), values, values.length);
  }

  read(src: Buf, size: number): Float32Array {
    const out = new Float32Array(size);
    this.addon.cudaDownload(out, dev(src), size);
    return out;
  }

  gemm(p: GemmParams): void {
    this.addon.cudaGemm(p.transA, p.transB, p.m, p.n, p.k, p.alpha, dev(p.a), p.lda, dev(p.b), p.ldb, p.beta,
      dev(p.c), p.ldc, p.bias ? dev(p.bias) : null);
  }

  binary(op: BinaryOpName, a: Buf, b: Buf, out: Buf, n: number, bLength: number): void {
    this.addon.cudaBinary(op, dev(a), dev(b), dev(out), n, bLength);
  }

  scale(a: Buf, out: Buf, n: number, alpha: number, beta: number): void {
    this.addon.cudaScale(dev(a), dev(out), n, alpha, beta);
  }

  unary(op: UnaryOpName, a: Buf, out: Buf, n: number): void {
    this.addon.cudaUnary(op, dev(a), dev(out), n);
  }

  rowReduce(op: ReduceOpName, a: Buf, out: Buf, rows: number, cols: number): void {
    this.addon.cudaRowReduce(op, dev(a), dev(out), rows, cols);
  }

  softmax(a: Buf, out: Buf, rows: number, cols: number): void {
    this.addon.cudaSoftmax(dev(a), dev(out), rows, cols);
  }

  stridedCopy(src: Buf, dst: Buf, shape: number[], strides: number[]): void {
    this.addon.cudaStridedCopy(dev(src), dev(dst), shape, strides);
  }

  fill(out: Buf, n: number, value: number): void {
    this.addon.cudaFill(dev(out), n, value);
  }

  randomFill(kind: RandomKind, out: Buf, n: number, seed: number, offset: number, p0: number, p1: number): void {
    this.addon.cudaRandomFill(kind, dev(out), n, seed, offset, p0, p1);
  }

  synchronize(): void {
    this.addon.cudaSynchronize();
  }
}
