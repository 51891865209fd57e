/** The Backend interface: the primitive kernels every implementation (js, native, cuda) provides. */
import type { UnaryOpName } from '../ops/unary/table';
import type { KernelTable } from './registry';

export type { KernelName, Kernels } from './registry';

export type Device = 'cpu' | 'cuda';
export type BackendName = 'js' | 'native' | 'cuda';

export type BinaryOpName = 'add' | 'sub' | 'mul' | 'div';
export { UNARY_OP_NAMES, type UnaryOpName } from '../ops/unary/table';
export type ReduceOpName = 'sum' | 'max' | 'mean';
export type RandomKind = 'uniform' | 'normal';

/**
 * A block of float32 memory owned by one backend. CPU storage exposes its memory as a Float32Array
 * (`data`); device storage holds an opaque handle. `refs` counts the tensors that view it.
 */
export interface Storage {
  readonly backend: BackendName;
  readonly device: Device;
  /** Capacity in float32 elements. */
  readonly size: number;
  /** Host memory (CPU storage only). */
  readonly data?: Float32Array;
  /** Device memory handle (CUDA storage only). */
  readonly handle?: unknown;
  refs: number;
  disposed: boolean;
}

/** A position in a storage: kernels read or write from `offset` (in elements) on. */
export interface Buf {
  storage: Storage;
  offset: number;
}

/** C[m,n] = alpha * op(A) op(B) + beta * C + bias; row-major with leading dimensions. */
export interface GemmParams {
  transA: boolean;
  transB: boolean;
  m: number;
  n: number;
  k: number;
  alpha: number;
  a: Buf;
  lda: number;
  b: Buf;
  ldb: number;
  beta: number;
  c: Buf;
  ldc: number;
  bias?: Buf | null;
}

/**
 * A backend: memory, the primitive kernels as methods (every backend has them), and its registry of every
 * kernel it runs by name (the primitives again, and the optional groups: PEFT, model, attention, optim).
 */
export interface Backend extends PrimitiveKernels {
  readonly name: BackendName;
  readonly device: Device;
  readonly kernels: KernelTable;

  alloc(size: number): Storage;
  free(storage: Storage): void;
  /** Copies host values into the storage from `offset` on. */
  write(dst: Buf, values: Float32Array): void;
  /** Copies `size` values out of the storage into a new host array. */
  read(src: Buf, size: number): Float32Array;
  /** Waits for queued device work (a no-op on the CPU). */
  synchronize(): void;
}

/** out = a op b, with b the same length as a or a row of width bLength broadcast over a. */
export interface BinaryParams { op: BinaryOpName; a: Buf; b: Buf; out: Buf; n: number; bLength: number }
/** out = alpha * a + beta */
export interface ScaleParams { a: Buf; out: Buf; n: number; alpha: number; beta: number }
export interface UnaryParams { op: UnaryOpName; a: Buf; out: Buf; n: number }
/** out[r] = reduce(a[r, :]) over a contiguous [rows, cols] matrix. */
export interface RowReduceParams { op: ReduceOpName; a: Buf; out: Buf; rows: number; cols: number }
/** Softmax of each row of a contiguous [rows, cols] matrix. */
export interface SoftmaxParams { a: Buf; out: Buf; rows: number; cols: number }
/** Gathers the view (shape, strides from src.offset) into contiguous dst. */
export interface StridedCopyParams { src: Buf; dst: Buf; shape: number[]; strides: number[] }
export interface FillParams { out: Buf; n: number; value: number }
/**
 * Counter-based random numbers: element i is a function of (seed, offset + i) only. Uniform draws lie in
 * [low, high); normal draws have mean `mean` and standard deviation `std`.
 */
export type RandomFillParams = { out: Buf; n: number; seed: number; offset: number } &
  ({ kind: 'uniform'; low: number; high: number } | { kind: 'normal'; mean: number; std: number });

/**
 * The kernels every backend has, each taking one params object. Ops call them as the backend's methods,
 * which are the registry's checked kernels (primitive_checks.ts, checkedPrimitives).
 */
export interface PrimitiveKernels {
  gemm(p: GemmParams): void;
  binary(p: BinaryParams): void;
  scale(p: ScaleParams): void;
  unary(p: UnaryParams): void;
  rowReduce(p: RowReduceParams): void;
  softmax(p: SoftmaxParams): void;
  stridedCopy(p: StridedCopyParams): void;
  fill(p: FillParams): void;
  randomFill(p: RandomFillParams): void;
}
