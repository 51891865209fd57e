/**
 * Tensor: a float32 view (shape, strides, offset) over a backend's storage. Views (reshape of contiguous
 * data, transpose, slice) share the storage; it is freed when the last tensor over it is disposed, or,
 * as a safety net, when the last one is garbage-collected.
 */
import { backend, getBackend } from '../backend';
import type { Backend, BackendName, Buf, Device, Storage } from '../backend/types';
import { backward as runBackward, type BackwardOptions, type GradNode, record } from './autograd';
import { track } from './scope';
import { checkElementCount, contiguousStrides, formatShape, inferShape, normalizeDim, type Shape, sizeOf } from './shape';

export type NestedArray = number | NestedArray[];

const live = { tensors: 0, storages: 0, bytes: 0 };

function releaseStorage(storage: Storage): void {
  if (--storage.refs > 0 || storage.disposed) return;
  live.storages--;
  live.bytes -= storage.size * 4;
  backend(storage.backend).free(storage);
}

// The safety net for tensors nobody disposed: the storage's reference goes when the tensor is collected.
// A finalizer must not throw (it would surface as an uncaught error anywhere): a storage whose backend
// cannot free it any more is left to the addon's own finalizer for its memory.
const collected = new FinalizationRegistry<Storage>((storage) => {
  live.tensors--;
  try {
    releaseStorage(storage);
  } catch {
    storage.disposed = true;
  }
});

/** Allocates storage on a backend and counts it. */
export function allocStorage(size: number, on: Backend = getBackend()): Storage {
  checkElementCount(size, `${on.name} backend: allocating a tensor`);
  const storage = on.alloc(size);
  live.storages++;
  live.bytes += size * 4;
  return storage;
}

/** Live tensors and the bytes their storages hold (all backends). */
export function memory(): { numTensors: number; numStorages: number; numBytes: number } {
  return { numTensors: live.tensors, numStorages: live.storages, numBytes: live.bytes };
}

export class Tensor {
  readonly shape: readonly number[];
  readonly strides: readonly number[];
  readonly offset: number;
  readonly storage: Storage;
  private disposed = false;
  /** Whether gradients flow to this tensor: trainable parameters, and what autograd computes from them. */
  requiresGrad = false;
  /** The gradient accumulated by backward() (leaves with requiresGrad only); the optimizers read it. */
  grad: Tensor | null = null;
  /** The autograd node that computed this tensor (null for leaves and for results computed without recording). */
  gradFn: GradNode | null = null;

  constructor(storage: Storage, shape: Shape, strides?: Shape, offset = 0) {
    this.storage = storage;
    this.shape = Object.freeze([...shape]);
    this.strides = Object.freeze(strides ? [...strides] : contiguousStrides(shape));
    this.offset = offset;
    storage.refs++;
    live.tensors++;
    collected.register(this, storage, this);
    track(this);
  }

  get dtype(): 'float32' {
    return 'float32';
  }
  get device(): Device {
    return this.storage.device;
  }
  get size(): number {
    return sizeOf(this.shape);
  }
  get rank(): number {
    return this.shape.length;
  }
  get isDisposed(): boolean {
    return this.disposed;
  }

  /** The storage position of the first element, after checking the tensor is alive. */
  buf(op = 'tensor'): Buf {
    this.assertAlive(op);
    return { storage: this.storage, offset: this.offset };
  }

  assertAlive(op: string): void {
    if (this.disposed || this.storage.disposed) throw new Error(`${op}: tensor ${formatShape(this.shape)} was disposed`);
  }

  isContiguous(): boolean {
    let expected = 1;
    for (let d = this.rank - 1; d >= 0; d--) {
      if (this.shape[d] !== 1 && this.strides[d] !== expected) return false;
      expected *= this.shape[d];
    }
    return true;
  }

  /** A view with another shape (one -1 allowed); non-contiguous data is copied first. */
  reshape(shape: Shape): Tensor {
    this.assertAlive('reshape');
    const target = inferShape(shape, this.size, 'reshape');
    let r: Tensor;
    if (this.isContiguous()) r = new Tensor(this.storage, target, undefined, this.offset);
    else {
      const c = this.copyPacked();
      r = new Tensor(c.storage, target, undefined, c.offset);
      c.dispose();
    }
    const from = this.shape;
    return record(r, 'reshape', [this], (g) => [g.reshape(from)]);
  }

  /** Swaps two dimensions (by default the last two) without copying. */
  transpose(dim0 = -2, dim1 = -1): Tensor {
    this.assertAlive('transpose');
    const a = normalizeDim(dim0, this.rank, 'transpose');
    const b = normalizeDim(dim1, this.rank, 'transpose');
    const shape = [...this.shape], strides = [...this.strides];
    [shape[a], shape[b]] = [shape[b], shape[a]];
    [strides[a], strides[b]] = [strides[b], strides[a]];
    return record(new Tensor(this.storage, shape, strides, this.offset), 'transpose', [this], (g) => [g.transpose(a, b)]);
  }

  /** The transpose of a matrix (the last two dimensions), as a view. */
  get T(): Tensor {
    return this.transpose(-2, -1);
  }

  /** Reorders the dimensions without copying: dims is a permutation of 0..rank-1. */
  permute(dims: number[]): Tensor {
    this.assertAlive('permute');
    const norm = dims.map((d) => normalizeDim(d, this.rank, 'permute'));
    if (norm.length !== this.rank || new Set(norm).size !== this.rank)
      throw new RangeError(`permute: ${formatShape(dims)} is not a permutation of the ${this.rank} dimensions`);
    const out = new Tensor(this.storage, norm.map((d) => this.shape[d]), norm.map((d) => this.strides[d]), this.offset);
    const inverse = new Array<number>(norm.length);
    norm.forEach((d, i) => (inverse[d] = i));
    return record(out, 'permute', [this], (g) => [g.permute(inverse)]);
  }

  /** Elements [start, end) along one dimension, as a view. */
  slice(dim: number, start: number, end?: number): Tensor {
    this.assertAlive('slice');
    const d = normalizeDim(dim, this.rank, 'slice');
    const stop = end ?? this.shape[d];
    if (!Number.isInteger(start) || !Number.isInteger(stop) || start < 0 || stop > this.shape[d] || start > stop)
      throw new RangeError(`slice: range [${start}, ${stop}) is out of bounds for dimension ${d} of size ${this.shape[d]}`);
    const shape = [...this.shape];
    shape[d] = stop - start;
    const out = new Tensor(this.storage, shape, this.strides, this.offset + start * this.strides[d]);
    const full = this.shape;
    return record(out, 'slice', [this], (g) => [sliceBackward(g, full, d, start)]);
  }

  /** A contiguous tensor with the same values: a new view when already contiguous, else a copy. */
  contiguous(): Tensor {
    this.assertAlive('contiguous');
    const out = this.isContiguous() ? new Tensor(this.storage, this.shape, undefined, this.offset) : this.copyPacked();
    return record(out, 'contiguous', [this], (g) => [g.reshape(g.shape)]);
  }

  /** A copy in fresh storage on the active backend's device. */
  clone(): Tensor {
    this.assertAlive('clone');
    return record(this.copyPacked(), 'clone', [this], (g) => [g.reshape(g.shape)]);
  }

  /** A tensor cut off from the graph: same storage, no gradient flows back through it. */
  detach(): Tensor {
    this.assertAlive('detach');
    return new Tensor(this.storage, this.shape, this.strides, this.offset);
  }

  /** Marks a leaf as needing a gradient (or not); returns this. */
  requiresGrad_(value = true): this {
    if (this.gradFn !== null && !value)
      throw new Error(`requiresGrad_: tensor ${formatShape(this.shape)} was computed by '${this.gradFn.op}'; detach() it instead`);
    this.requiresGrad = value;
    return this;
  }

  /** Backpropagates from this tensor (a scalar loss, or with an explicit gradient) into every leaf's .grad. */
  backward(opts: BackwardOptions = {}): void {
    runBackward(this, opts);
  }

  /** A packed copy without recording (internal: ops use it for kernels that need contiguous input). */
  copyPacked(): Tensor {
    const b = backendFor(this, 'clone');
    const out = new Tensor(allocStorage(this.size, b), this.shape);
    b.stridedCopy({ src: this.buf(), dst: out.buf(), shape: [...this.shape], strides: [...this.strides] });
    return out;
  }

  /** A copy on another backend or device ('cpu' means the native backend where present, else js). */
  to(target: BackendName | Device): Tensor {
    this.assertAlive('to');
    const name: BackendName = target === 'cpu' ? (getBackend().device === 'cpu' ? getBackend().name : defaultCpu()) : target;
    const dst = backend(name);
    const values = this.toFloat32Array();
    const out = new Tensor(allocStorage(values.length, dst), this.shape);
    dst.write(out.buf(), values);
    return out;
  }

  /** The values in row-major order, copied to a new host array (works for any device and layout). */
  toFloat32Array(): Float32Array {
    this.assertAlive('toFloat32Array');
    const owner = backend(this.storage.backend);
    if (this.isContiguous()) return owner.read(this.buf(), this.size);
    const packed = new Tensor(allocStorage(this.size, owner), this.shape);
    try {
      owner.stridedCopy({ src: this.buf(), dst: packed.buf(), shape: [...this.shape], strides: [...this.strides] });
      return owner.read(packed.buf(), this.size);
    } finally {
      packed.dispose();
    }
  }

  /** The host memory itself (no copy) for a contiguous CPU tensor; writes go into the tensor. */
  get data(): Float32Array {
    this.assertAlive('data');
    if (this.device !== 'cpu') throw new Error(`data: tensor is on '${this.device}'; use toFloat32Array() or to('cpu')`);
    if (!this.isContiguous()) throw new Error('data: tensor is not contiguous; call contiguous() first');
    return this.storage.data!.subarray(this.offset, this.offset + this.size);
  }

  toArray(): NestedArray {
    const flat = this.toFloat32Array();
    const build = (dim: number, base: number): NestedArray => {
      if (dim === this.rank) return flat[base];
      const inner = sizeOf(this.shape.slice(dim + 1));
      return Array.from({ length: this.shape[dim] }, (_, i) => build(dim + 1, base + i * inner));
    };
    return build(0, 0);
  }

  /** The single value of a one-element tensor. */
  item(): number {
    if (this.size !== 1) throw new RangeError(`item: tensor ${formatShape(this.shape)} has ${this.size} elements, expected 1`);
    return this.toFloat32Array()[0];
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    collected.unregister(this);
    live.tensors--;
    releaseStorage(this.storage);
  }

  toString(): string {
    return `Tensor(shape=${formatShape(this.shape)}, device=${this.device}${this.disposed ? ', disposed' : ''})`;
  }
}

function defaultCpu(): BackendName {
  try {
    backend('native');
    return 'native';
  } catch {
    return 'js';
  }
}

/** The active backend, after checking the tensor lives on its device. */
export function backendFor(t: Tensor, op: string): Backend {
  const b = getBackend();
  t.assertAlive(op);
  if (t.device !== b.device)
    throw new Error(`${op}: tensor ${formatShape(t.shape)} is on '${t.device}' but the active backend '${b.name}' runs on '${b.device}'; move it with .to('${b.device === 'cpu' ? 'cpu' : b.name}')`);
  return b;
}

/** The gradient of a slice: g written into a zero tensor of the full shape at [start, start + len) along dim. */
function sliceBackward(g: Tensor, full: readonly number[], dim: number, start: number): Tensor {
  const b = backendFor(g, 'slice backward');
  const out = new Tensor(allocStorage(sizeOf(full), b), full);
  b.fill({ out: out.buf(), n: out.size, value: 0 });
  const strides = contiguousStrides(full);
  scatterInto(g, out, start * strides[dim], strides);
  return out;
}

/** Writes src's values into dst's storage at the view (src's shape, the given strides, from offset). */
export function scatterInto(src: Tensor, dst: Tensor, offset: number, strides: readonly number[]): void {
  const b = backendFor(dst, 'scatter');
  const sc = src.isContiguous() ? src : src.copyPacked();
  const at = { storage: dst.storage, offset };
  if (b.kernels.has('stridedScatter')) b.kernels.get('stridedScatter', 'scatter')({ src: sc.buf(), dst: at, shape: [...src.shape], strides: [...strides] });
  else scatterOnHost(sc, dst, offset, [...strides]);
  if (sc !== src) sc.dispose();
}

/** stridedScatter for CPU backends that lack the kernel. */
function scatterOnHost(src: Tensor, dst: Tensor, offset: number, strides: number[]): void {
  if (dst.device !== 'cpu') throw new Error(`slice backward: the ${dst.storage.backend} backend has no stridedScatter kernel`);
  const values = src.data, out = dst.storage.data!;
  const shape = src.shape;
  const index = new Array<number>(shape.length).fill(0);
  for (let i = 0; i < values.length; i++) {
    let at = offset;
    for (let d = 0; d < shape.length; d++) at += index[d] * strides[d];
    out[at] = values[i];
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++index[d] < shape[d]) break;
      index[d] = 0;
    }
  }
}
