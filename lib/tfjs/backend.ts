/**
 * The 'peftjs' TensorFlow.js backend: tfjs-backend-cpu's MathBackendCPU itself (its DataStorage of typed
 * arrays, read/readSync, memory accounting, dispose), so every kernel tfjs's cpu backend has runs here
 * unchanged on the same data, and the overridden kernels (lib/tfjs/kernels) read and write those arrays in place.
 * Its DataStorage also tracks which values are blocks of the output pool (lib/tfjs/memory.ts): a block
 * returns to the pool when its last dataId is deleted, unless its values escaped to the user.
 */
import { type backend_util, type DataId, DataStorage, type DataType, engine, type KernelBackend, type Rank, type TensorBuffer, type TensorInfo } from '@tensorflow/tfjs-core';
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { addAlias, dropAlias, inKernel, insideKernel, markEscaped } from './memory';

type TensorData = Parameters<MathBackendCPU['data']['set']>[1];

/** The cpu backend's storage, counting the dataIds over each pool block and the reads that escape. */
class PoolAwareStorage extends DataStorage<TensorData> {
  /** The pool block of each dataId whose values are one. */
  private readonly blockOf = new WeakMap<DataId, ArrayBuffer>();

  override get(dataId: DataId): TensorData {
    const d = super.get(dataId);
    if (!insideKernel() && d) markEscaped(d.values);  // user code holding the backend's array
    return d;
  }

  override set(dataId: DataId, value: TensorData): void {
    const old = this.blockOf.get(dataId);
    if (old) {
      this.blockOf.delete(dataId);
      dropAlias(old);
    }
    super.set(dataId, value);
    const block = addAlias(value.values);
    if (block) this.blockOf.set(dataId, block);
  }

  override delete(dataId: DataId): boolean {
    const deleted = super.delete(dataId);
    const block = this.blockOf.get(dataId);
    if (block) {
      this.blockOf.delete(dataId);
      dropAlias(block);
    }
    return deleted;
  }
}

export class PeftjsBackend extends MathBackendCPU {
  constructor() {
    super();
    this.data = new PoolAwareStorage(this as unknown as KernelBackend, engine());
  }

  // The backend's own bookkeeping reads its storage outside any kernel: not an escape.
  override refCount(dataId: DataId): number { return inKernel(() => super.refCount(dataId)); }
  override incRef(dataId: DataId): void { inKernel(() => super.incRef(dataId)); }
  override decRef(dataId: DataId): void { inKernel(() => super.decRef(dataId)); }
  override disposeData(dataId: DataId, force = false): boolean { return inKernel(() => super.disposeData(dataId, force)); }

  private kernelBufferSync = 0;

  /**
   * What dataSync/data/arraySync return (the stored array itself), and what the engine moves to another
   * backend (it disposes the dataId here before the other backend takes the array): it escapes, even
   * when a kernel of another backend asked for it.
   */
  override readSync(dataId: DataId): backend_util.BackendValues {
    const values = inKernel(() => super.readSync(dataId));
    if (this.kernelBufferSync === 0) markEscaped(values);
    return values;
  }

  /** A cpu kernel's TensorBuffer over an input (used within the kernel only) is no escape; the user's is. */
  override bufferSync<R extends Rank, D extends DataType>(t: TensorInfo): TensorBuffer<R, D> {
    if (!insideKernel()) return super.bufferSync<R, D>(t);
    this.kernelBufferSync++;
    try {
      return super.bufferSync<R, D>(t);
    } finally {
      this.kernelBufferSync--;
    }
  }
}
