/**
 * What every override shares: reading a float32 input in place from the backend's DataStorage, registering
 * a new Float32Array as an output, and falling back to tfjs's own cpu kernel (same inputs, same backend,
 * same data) whenever the native path does not apply (another dtype, an attribute it does not cover).
 */
import { getKernel, type KernelConfig, type KernelFunc, type NamedAttrMap, type TensorInfo } from '@tensorflow/tfjs-core';
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { inKernel } from './memory';

export const BACKEND_NAME = 'peftjs';

export interface KernelArgs {
  /** The kernel's inputs by name (optional ones, such as a fused bias, may be absent at run time). */
  inputs: Record<string, TensorInfo>;
  backend: MathBackendCPU;
  attrs?: NamedAttrMap;
}

/** A native kernel: its result, or null to hand the call to tfjs's cpu kernel. */
export type NativeKernel = (args: KernelArgs) => TensorInfo | TensorInfo[] | null;

function isFloat32Array(v: unknown): v is Float32Array {
  // By constructor name too: under jest the tensors' arrays may come from another realm.
  return v instanceof Float32Array || (ArrayBuffer.isView(v) && (v as object).constructor?.name === 'Float32Array');
}

/** The tensor's values in place when it is float32 (no copy), else null. */
export function f32(backend: MathBackendCPU, t: TensorInfo | undefined | null): Float32Array | null {
  if (!t || t.dtype !== 'float32') return null;
  const v = backend.data.get(t.dataId)?.values;
  return isFloat32Array(v) ? v : null;
}

/** A new float32 output tensor over `values` (registered as is: no copy). */
export function output(backend: MathBackendCPU, shape: number[], values: Float32Array): TensorInfo {
  return backend.makeTensorInfo(shape, 'float32', values);
}

export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const s of shape) n *= s;
  return n;
}

export function stridesOf(shape: readonly number[]): number[] {
  const st = new Array<number>(shape.length);
  let s = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    st[d] = s;
    s *= shape[d];
  }
  return st;
}

/** tfjs's cpu kernel function for a kernel name (registered when @tensorflow/tfjs-backend-cpu loads). */
export function cpuKernel(name: string): KernelFunc {
  const k = getKernel(name, 'cpu');
  if (!k) throw new Error(`peftjs/tfjs: tfjs's cpu backend has no kernel '${name}'`);
  return k.kernelFunc;
}

/** The kernel `name` on 'peftjs': the native path, or tfjs's cpu kernel when it returns null. */
export function override(name: string, native: NativeKernel): KernelConfig {
  const cpu = getKernel(name, 'cpu');
  if (!cpu) throw new Error(`peftjs/tfjs: tfjs's cpu backend has no kernel '${name}'`);
  const fallback = cpu.kernelFunc;
  const kernelFunc = ((args: KernelArgs) => inKernel(() => native(args) ?? fallback(args))) as unknown as KernelFunc;
  return { kernelName: name, backendName: BACKEND_NAME, kernelFunc, setupFunc: cpu.setupFunc, disposeFunc: cpu.disposeFunc };
}

/** tfjs's cpu kernel as a 'peftjs' kernel (its reads of the backend's storage are not escapes). */
export function cpuAsPeftjs(k: KernelConfig): KernelConfig {
  const f = k.kernelFunc;
  return { ...k, backendName: BACKEND_NAME, kernelFunc: ((args: Parameters<KernelFunc>[0]) => inKernel(() => f(args))) as KernelFunc };
}
