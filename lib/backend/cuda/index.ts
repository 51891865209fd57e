/**
 * The CUDA backend: the addon's CUDA kernels on device memory. Storage holds an opaque device handle;
 * kernels receive [handle, offset] views and the addon checks them against the shapes.
 */
import type { NativeAddon } from '../native/addon';
import { checkedPrimitives } from '../primitive_checks';
import { KernelTable } from '../registry';
import type { Backend, Buf, PrimitiveKernels, Storage } from '../types';
import { dev, deviceParams } from './device_params';

/** The primitives: each passes its params object to the addon's CUDA entry, buffers as device views. */
const cudaPrimitiveKernels: PrimitiveKernels & ThisType<{ addon: NativeAddon }> = {
  gemm(p) { this.addon.cudaGemm(deviceParams(p)); },
  binary(p) { this.addon.cudaBinary(deviceParams(p)); },
  scale(p) { this.addon.cudaScale(deviceParams(p)); },
  unary(p) { this.addon.cudaUnary(deviceParams(p)); },
  rowReduce(p) { this.addon.cudaRowReduce(deviceParams(p)); },
  softmax(p) { this.addon.cudaSoftmax(deviceParams(p)); },
  stridedCopy(p) { this.addon.cudaStridedCopy(deviceParams(p)); },
  fill(p) { this.addon.cudaFill(deviceParams(p)); },
  randomFill(p) { this.addon.cudaRandomFill(deviceParams(p)); },
};

/** The primitive methods are the registry's checked kernels (checkedPrimitives), set in the constructor. */
export interface CudaBackend extends PrimitiveKernels {}

export class CudaBackend implements Backend {
  readonly name = 'cuda' as const;
  readonly device = 'cuda' as const;
  /** The primitives only so far: ops that need another kernel say so, naming it and this backend. */
  readonly kernels: KernelTable;

  constructor(readonly addon: NativeAddon) {
    this.kernels = new KernelTable(this.name).register(cudaPrimitiveKernels, this);
    Object.assign(this, checkedPrimitives(this.kernels));
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

  synchronize(): void {
    this.addon.cudaSynchronize();
  }
}
