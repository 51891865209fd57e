/** The native CPU backend: the C++ kernels of csrc/ through the addon, on 64-byte aligned host memory. */
import type {
  Backend, BinaryOpName, Buf, DiffPruneParams, GemmParams, Ia3Params, LoraBackwardParams, LoraForwardParams, RandomKind,
  OptimKernels, ReduceOpName, Storage, UnaryOpName,
} from '../types';
import type { ModelPart1Kernels } from '../js/model';
import type { NativeAddon } from './addon';
import { nativeModelKernels } from './model';
import { nativeAttentionKernels } from './attention';
import { nativeOptimKernels } from './optim';

/** The Float32Array of a CPU buffer from its offset on (the addon checks lengths against shapes). */
function view(b: Buf): Float32Array {
  const data = b.storage.data;
  if (data === undefined) throw new Error(`native backend: storage on '${b.storage.device}' is not host memory`);
  return b.offset === 0 ? data : data.subarray(b.offset);
}

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

  constructor(readonly addon: NativeAddon) {}

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

  loraForward(p: LoraForwardParams): void {
    this.addon.loraForward(p.T, p.K, p.N, p.r, view(p.x), opt(p.w), opt(p.bias), view(p.a), view(p.b), p.scale, p.dropout,
      p.seed, p.rowOffset, view(p.u), view(p.y));
  }

  loraBackward(p: LoraBackwardParams): void {
    this.addon.loraBackward(p.T, p.K, p.N, p.r, view(p.x), opt(p.w), view(p.a), view(p.b), view(p.u), view(p.dy), p.scale,
      p.dropout, p.seed, p.rowOffset, opt(p.dx), view(p.da), view(p.db), opt(p.dbias));
  }

  ia3Forward(p: Ia3Params & { bias: Buf | null; y: Buf; yPre: Buf | null }): void {
    this.addon.ia3Forward(p.mode, p.T, p.K, p.N, view(p.x), view(p.w), opt(p.bias), view(p.l), view(p.y), opt(p.yPre));
  }

  ia3Backward(p: Ia3Params & { dy: Buf; yPre: Buf | null; dx: Buf | null; dl: Buf }): void {
    this.addon.ia3Backward(p.mode, p.T, p.K, p.N, view(p.x), view(p.w), view(p.l), view(p.dy), opt(p.yPre), opt(p.dx), view(p.dl));
  }

  diffPruneForward(p: DiffPruneParams & { w: Buf; wOut: Buf; z: Buf | null }): number {
    return this.addon.diffPruneForward(p.n, view(p.w), view(p.delta), view(p.logAlpha), p.logAlphaLength, p.training, p.seed,
      p.gate.gamma, p.gate.zeta, p.gate.beta, view(p.wOut), opt(p.z));
  }

  diffPruneBackward(p: DiffPruneParams & { dw: Buf; lambda: number; dDelta: Buf; dLogAlpha: Buf; gates?: Buf | null }): void {
    this.addon.diffPruneBackward(p.n, view(p.dw), view(p.delta), view(p.logAlpha), p.logAlphaLength, p.training, p.seed,
      p.gate.gamma, p.gate.zeta, p.gate.beta, p.lambda, view(p.dDelta), view(p.dLogAlpha), opt(p.gates ?? null));
  }

  projectTopK(v: Buf, n: number, keep: number): number {
    return this.addon.projectTopK(view(v), n, keep);
  }

  bitfitBackward(p: { T: number; K: number; N: number; dy: Buf; w: Buf; dx: Buf | null; dbias: Buf }): void {
    this.addon.bitfitBackward(p.T, p.K, p.N, view(p.dy), view(p.w), opt(p.dx), view(p.dbias));
  }
}

function opt(b: Buf | null): Float32Array | null {
  return b === null ? null : view(b);
}

// The model, attention and optimizer kernels live in their own files; they are part of the native backend all the same.
Object.assign(NativeBackend.prototype, nativeModelKernels, nativeAttentionKernels, nativeOptimKernels);
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface NativeBackend extends ModelPart1Kernels, OptimKernels {}
