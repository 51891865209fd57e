/**
 * The CUDA backend: the addon's CUDA kernels on device memory. Storage holds an opaque device handle;
 * kernels receive [handle, offset] views and the addon checks them against the shapes.
 */
import { OP_KERNEL_NAMES, type OpKernelName, type OpKernels } from '../../ops';
import { loadAddon, loadError, type NativeAddon } from '../native/addon';
import { checkedPrimitives } from '../primitive_checks';
import { KernelTable } from '../registry';
import type { Backend, Buf, PrimitiveKernels, Storage } from '../types';
import { dev, deviceParams } from './device_params';
import { FrozenArrays } from './frozen_arrays';

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

/** The addon's CUDA entry of an op kernel: `cuda` and the kernel's name capitalised (cudaRmsNormForward). */
export function cudaEntryName(kernel: OpKernelName): string {
  return `cuda${kernel[0].toUpperCase()}${kernel.slice(1)}`;
}

/** The kernels that read a frozen low-precision weight's arrays: those go up once (frozen_arrays.ts). */
const READS_FROZEN_WEIGHT: readonly OpKernelName[] = ['gemmBf16', 'dequantize'];

const frozenArrays = new WeakMap<NativeAddon, FrozenArrays>();

/**
 * Every op kernel (lib/ops) the addon has a CUDA entry for, called with the kernel's params object, buffers
 * as device views (and a frozen weight's arrays as views of its one device copy). The entries are compiled
 * in with CUDA or not at all, so this list is the build's answer, known without a device.
 */
export function cudaOpKernels(addon: NativeAddon): Partial<OpKernels> {
  const entries = OP_KERNEL_NAMES.flatMap((name) => {
    const entry = (addon as unknown as Record<string, unknown>)[cudaEntryName(name)] as ((p: unknown) => unknown) | undefined;
    if (typeof entry !== 'function') return [];
    if (!READS_FROZEN_WEIGHT.includes(name)) return [[name, (p: object) => entry(deviceParams(p))] as const];
    return [[name, (p: object) => {
      let cache = frozenArrays.get(addon);
      if (cache === undefined) frozenArrays.set(addon, cache = new FrozenArrays(addon));
      return entry(deviceParams(cache.params(p)));
    }] as const];
  });
  return Object.fromEntries(entries) as Partial<OpKernels>;
}

/**
 * The kernels the cuda backend registers with this addon, known without a device (a build with CUDA answers
 * the same on a machine without a GPU as on one with).
 */
export function cudaKernelNames(addon: NativeAddon): string[] {
  return new KernelTable('cuda').register({ ...cudaPrimitiveKernels, ...cudaOpKernels(addon) }, {}).names();
}

/** The primitive methods are the registry's checked kernels (checkedPrimitives), set in the constructor. */
export interface CudaBackend extends PrimitiveKernels {}

export class CudaBackend implements Backend {
  readonly name = 'cuda' as const;
  readonly device = 'cuda' as const;
  /** The primitives and the op kernels with a CUDA entry: an op that needs another says so, naming it and this backend. */
  readonly kernels: KernelTable;

  constructor(readonly addon: NativeAddon) {
    this.kernels = new KernelTable(this.name).register({ ...cudaPrimitiveKernels, ...cudaOpKernels(addon) }, this);
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

/**
 * Allows TF32 tensor cores for the float32 GEMMs of the cuda backend (those cuBLASLt runs), as
 * torch.backends.cuda.matmul.allow_tf32 does; off by default, as in PyTorch. Returns the previous setting.
 */
export function setCudaAllowTf32(allow: boolean): boolean {
  if (typeof allow !== 'boolean') throw new TypeError(`setCudaAllowTf32: allow must be a boolean, got ${typeof allow}`);
  const addon = loadAddon();
  if (!addon) throw new Error(`setCudaAllowTf32: the native addon is not loaded (${loadError()?.message})`);
  return addon.cudaSetAllowTf32(allow);
}
