/** The addon entries of the primitive kernels on the CPU (csrc/binding/ops_binding.cc) and on CUDA (cuda_binding.cc), positional. */
import type { DeviceView } from './addon';

export interface NativePrimitiveEntries {
  gemm(transA: boolean, transB: boolean, m: number, n: number, k: number, alpha: number, a: Float32Array, lda: number,
       b: Float32Array, ldb: number, beta: number, c: Float32Array, ldc: number, bias: Float32Array | null): void;
  binary(op: string, a: Float32Array, b: Float32Array, out: Float32Array, n: number, bLength: number): void;
  scale(a: Float32Array, out: Float32Array, n: number, alpha: number, beta: number): void;
  unary(op: string, a: Float32Array, out: Float32Array, n: number): void;
  rowReduce(op: string, a: Float32Array, out: Float32Array, rows: number, cols: number): void;
  softmax(a: Float32Array, out: Float32Array, rows: number, cols: number): void;
  stridedCopy(src: Float32Array, dst: Float32Array, shape: number[], strides: number[]): void;
  fill(out: Float32Array, n: number, value: number): void;
  randomFill(kind: string, out: Float32Array, n: number, seed: number, offset: number, p0: number, p1: number): void;
  cudaGemm(transA: boolean, transB: boolean, m: number, n: number, k: number, alpha: number, a: DeviceView, lda: number,
           b: DeviceView, ldb: number, beta: number, c: DeviceView, ldc: number, bias: DeviceView | null): void;
  cudaBinary(op: string, a: DeviceView, b: DeviceView, out: DeviceView, n: number, bLength: number): void;
  cudaScale(a: DeviceView, out: DeviceView, n: number, alpha: number, beta: number): void;
  cudaUnary(op: string, a: DeviceView, out: DeviceView, n: number): void;
  cudaRowReduce(op: string, a: DeviceView, out: DeviceView, rows: number, cols: number): void;
  cudaSoftmax(a: DeviceView, out: DeviceView, rows: number, cols: number): void;
  cudaStridedCopy(src: DeviceView, dst: DeviceView, shape: number[], strides: number[]): void;
  cudaFill(out: DeviceView, n: number, value: number): void;
  cudaRandomFill(kind: string, out: DeviceView, n: number, seed: number, offset: number, p0: number, p1: number): void;
}
