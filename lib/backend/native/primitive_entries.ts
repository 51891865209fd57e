/**
 * The addon entries of the primitive kernels on the CPU (csrc/binding/ops_binding.cc) and on CUDA (the
 * same file's CUDA policy): each takes the kernel's TypeScript params object, buffers as Float32Arrays
 * (hostParams) or as [handle, offset] device views (cuda/device_params.ts, deviceParams).
 */
import type { DeviceParams } from '../cuda/device_params';
import type {
  BinaryParams, FillParams, GemmParams, PrimitiveKernels, RandomFillParams, RowReduceParams, ScaleParams,
  SoftmaxParams, StridedCopyParams, UnaryParams,
} from '../types';
import type { ParamsEntries } from './addon';

export interface NativePrimitiveEntries extends ParamsEntries<keyof PrimitiveKernels> {
  cudaGemm(p: DeviceParams<GemmParams>): void;
  cudaBinary(p: DeviceParams<BinaryParams>): void;
  cudaScale(p: DeviceParams<ScaleParams>): void;
  cudaUnary(p: DeviceParams<UnaryParams>): void;
  cudaRowReduce(p: DeviceParams<RowReduceParams>): void;
  cudaSoftmax(p: DeviceParams<SoftmaxParams>): void;
  cudaStridedCopy(p: DeviceParams<StridedCopyParams>): void;
  cudaFill(p: DeviceParams<FillParams>): void;
  cudaRandomFill(p: DeviceParams<RandomFillParams>): void;
}

