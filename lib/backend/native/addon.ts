/**
 * Loads the compiled addon: PEFTJS_ADDON (a path to a .node file) if set, else node-gyp-build's search
 * of prebuilds/ and build/Release under the package root. A missing addon is not an error here:
 * the native backend is then simply unavailable, and loadError() says why.
 */
import * as fs from 'fs';
import * as path from 'path';
import type { OpKernelName } from '../../ops';
import type { KernelName, Kernels } from '../types';
import type { NativePrimitiveEntries } from './primitive_entries';
import type { HostParams } from './views';

export interface NativeInfo {
  version: string;
  cpuPath: 'avx512' | 'avx2' | 'scalar';
  cpuPathDetected: 'avx512' | 'avx2' | 'scalar';
  /** The CPU has AVX512_BF16 and the AVX-512 path is active: computeDtype 'bfloat16' runs on vdpbf16ps. */
  avx512Bf16: boolean;
  threads: number;
  cudaCompiled: boolean;
  cudaDevices: number;
  cudaUnavailableReason?: string;
}

export type DeviceView = [unknown, number];

/** The addon entry of a kernel that takes its TypeScript params object, buffers as views (hostParams). */
export type ParamsEntries<K extends KernelName> = {
  [N in K]: (p: HostParams<Parameters<Kernels[N]>[0]>) => ReturnType<Kernels[N]>;
};

/**
 * The addon's functions (see csrc/binding); arguments are checked natively. Every kernel, primitive or op,
 * is the function of its name taking the kernel's params object (ParamsEntries).
 */
export interface NativeAddon extends ParamsEntries<OpKernelName>, NativePrimitiveEntries {
  info(): NativeInfo;
  setNumThreads(n: number): number;
  setCpuPath(path: string): string;
  alloc(floats: number): ArrayBuffer;
  free(buffer: ArrayBuffer): void;
  memoryStats(): { liveBytes: number; cachedBytes: number; cacheLimitBytes: number };
  emptyCache(): void;

  probe(seconds: number): { fmaPeakGflops: number; memoryBandwidthGbps: number };

  cudaDeviceCount(): { count: number; reason: string };
  cudaAlloc(floats: number): unknown;
  cudaFree(handle: unknown): void;
  cudaUpload(dst: DeviceView, host: Float32Array, n: number): void;
  cudaDownload(host: Float32Array, src: DeviceView, n: number): void;
  cudaCopy(dst: DeviceView, src: DeviceView, n: number): void;
  cudaSynchronize(): void;
  /** How many times the host has waited for the device since load (downloads, value reads, synchronize). */
  cudaHostWaits(): number;
  /** Which library the float32/bf16 CUDA GEMMs run on (cuBLASLt loaded at run time, or the addon's own kernels). */
  cudaGemmLibrary(): CudaGemmLibrary;
  /** TF32 tensor cores for float32 GEMMs on cuBLASLt; returns the previous setting. */
  cudaSetAllowTf32(allow: boolean): boolean;
}

export interface CudaGemmLibrary {
  cublasLt: boolean;
  /** The file loaded; '' when none. */
  path: string;
  version: string;
  /** Why cuBLASLt is not used (each place searched); '' when it is. */
  reason: string;
}

let addon: NativeAddon | null | undefined;
let error: Error | null = null;

/** The package root: the nearest folder above this file whose package.json is peftjs's. */
export function packageRoot(): string {
  let dir = __dirname;
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    if (fs.existsSync(pkg) && JSON.parse(fs.readFileSync(pkg, 'utf8')).name === 'peftjs') return dir;
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`peftjs: cannot find the package root above ${__dirname}`);
    dir = up;
  }
}

export function loadAddon(): NativeAddon | null {
  if (addon !== undefined) return addon;
  try {
    const override = process.env.PEFTJS_ADDON;
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    addon = (override ? require(path.resolve(override)) : require('node-gyp-build')(packageRoot())) as NativeAddon;
  } catch (e) {
    error = e as Error;
    addon = null;
  }
  return addon;
}

/** Why the addon did not load (null when it did, or was not tried yet). */
export function loadError(): Error | null {
  return error;
}
