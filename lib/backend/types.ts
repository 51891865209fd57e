/** The Backend interface: the primitive kernels every implementation (js, native, cuda) provides. */

export type Device = 'cpu' | 'cuda';
export type BackendName = 'js' | 'native' | 'cuda';

export type BinaryOpName = 'add' | 'sub' | 'mul' | 'div';
export type UnaryOpName = 'exp' | 'log' | 'tanh' | 'gelu' | 'gelu_tanh' | 'silu' | 'relu' | 'neg' | 'sqrt' | 'sigmoid';
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

export interface Backend {
  readonly name: BackendName;
  readonly device: Device;

  alloc(size: number): Storage;
  free(storage: Storage): void;
  /** Copies host values into the storage from `offset` on. */
  write(dst: Buf, values: Float32Array): void;
  /** Copies `size` values out of the storage into a new host array. */
  read(src: Buf, size: number): Float32Array;

  gemm(p: GemmParams): void;
  /** out = a op b, with b the same length as a or a row of width bLength broadcast over a. */
  binary(op: BinaryOpName, a: Buf, b: Buf, out: Buf, n: number, bLength: number): void;
  /** out = alpha * a + beta */
  scale(a: Buf, out: Buf, n: number, alpha: number, beta: number): void;
  unary(op: UnaryOpName, a: Buf, out: Buf, n: number): void;
  /** out[r] = reduce(a[r, :]) over a contiguous [rows, cols] matrix. */
  rowReduce(op: ReduceOpName, a: Buf, out: Buf, rows: number, cols: number): void;
  softmax(a: Buf, out: Buf, rows: number, cols: number): void;
  /** Gathers the view (shape, strides from src.offset) into contiguous dst. */
  stridedCopy(src: Buf, dst: Buf, shape: number[], strides: number[]): void;
  fill(out: Buf, n: number, value: number): void;
  /** Counter-based random numbers: element i is a function of (seed, offset + i) only. */
  randomFill(kind: RandomKind, out: Buf, n: number, seed: number, offset: number, p0: number, p1: number): void;
  /** Waits for queued device work (a no-op on the CPU). */
  synchronize(): void;
}
