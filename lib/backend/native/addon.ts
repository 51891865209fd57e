/**
 * Loads the compiled addon: PEFTJS_ADDON (a path to a .node file) if set, else node-gyp-build's search
 * of prebuilds/ and build/Release under the package root. A missing addon is not an error here:
 * the native backend is then simply unavailable, and loadError() says why.
 */
import * as fs from 'fs';
import * as path from 'path';
import type { LoraBackwardParams, LoraForwardParams, PeftKernels } from '../types';
import type { HostParams } from './views';

export interface NativeInfo {
  version: string;
  cpuPath: 'avx512' | 'avx2' | 'scalar';
  cpuPathDetected: 'avx512' | 'avx2' | 'scalar';
  threads: number;
  cudaCompiled: boolean;
  cudaDevices: number;
  cudaUnavailableReason?: string;
}

export type DeviceView = [unknown, number];

/** The addon's functions (see csrc/binding); arguments are checked natively. */
export interface NativeAddon {
  info(): NativeInfo;
  setNumThreads(n: number): number;
  setCpuPath(path: string): string;
  alloc(floats: number): ArrayBuffer;
  free(buffer: ArrayBuffer): void;
  memoryStats(): { liveBytes: number; cachedBytes: number; cacheLimitBytes: number };
  emptyCache(): void;
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

  probe(seconds: number): { fmaPeakGflops: number; memoryBandwidthGbps: number };

  // The PEFT kernels take their TypeScript params object, buffers as Float32Arrays (see views.ts, hostParams).
  loraForward(p: HostParams<LoraForwardParams>): void;
  loraBackward(p: HostParams<LoraBackwardParams>): void;
  ia3Forward(p: HostParams<Parameters<PeftKernels['ia3Forward']>[0]>): void;
  ia3Backward(p: HostParams<Parameters<PeftKernels['ia3Backward']>[0]>): void;
  diffPruneForward(p: HostParams<Parameters<PeftKernels['diffPruneForward']>[0]>): number;
  diffPruneBackward(p: HostParams<Parameters<PeftKernels['diffPruneBackward']>[0]>): void;
  projectTopK(p: HostParams<Parameters<PeftKernels['projectTopK']>[0]>): number;
  bitfitBackward(p: HostParams<Parameters<PeftKernels['bitfitBackward']>[0]>): void;
  attentionForward(batch: number, tq: number, tk: number, qHeads: number, kvHeads: number, headDim: number, scale: number,
                   causal: boolean, keyMask: Int32Array | null, q: Float32Array, qStride: number, k: Float32Array, kStride: number,
                   v: Float32Array, vStride: number, out: Float32Array, lse: Float32Array): void;
  attentionBackward(batch: number, tq: number, tk: number, qHeads: number, kvHeads: number, headDim: number, scale: number,
                    causal: boolean, keyMask: Int32Array | null, q: Float32Array, qStride: number, k: Float32Array, kStride: number,
                    v: Float32Array, vStride: number, out: Float32Array, lse: Float32Array, dout: Float32Array,
                    dq: Float32Array, dqStride: number, dk: Float32Array, dkStride: number, dv: Float32Array, dvStride: number): void;

  // Model kernels (csrc/binding/model_binding.cc).
  unaryBackward(op: string, x: Float32Array, dy: Float32Array, dx: Float32Array, n: number): void;
  softmaxBackward(y: Float32Array, dy: Float32Array, dx: Float32Array, rows: number, cols: number): void;
  columnSum(a: Float32Array, out: Float32Array, rows: number, cols: number, beta: number): void;
  stridedScatter(src: Float32Array, dst: Float32Array, shape: number[], strides: number[]): void;
  rmsNormForward(rows: number, cols: number, x: Float32Array, weight: Float32Array | null, eps: number, y: Float32Array,
                 rstd: Float32Array): void;
  rmsNormBackward(rows: number, cols: number, x: Float32Array, weight: Float32Array | null, eps: number, rstd: Float32Array,
                  dy: Float32Array, dx: Float32Array, dweight: Float32Array | null): void;
  layerNormForward(rows: number, cols: number, x: Float32Array, weight: Float32Array | null, bias: Float32Array | null,
                   eps: number, y: Float32Array, mean: Float32Array, rstd: Float32Array): void;
  layerNormBackward(rows: number, cols: number, x: Float32Array, weight: Float32Array | null, eps: number, mean: Float32Array,
                    rstd: Float32Array, dy: Float32Array, dx: Float32Array, dweight: Float32Array | null,
                    dbias: Float32Array | null): void;
  embeddingForward(n: number, dim: number, vocab: number, ids: Int32Array, table: Float32Array, out: Float32Array): void;
  embeddingBackward(n: number, dim: number, vocab: number, ids: Int32Array, dy: Float32Array, dtable: Float32Array): void;
  rope(rows: number, heads: number, headDim: number, rotaryDim: number, rowStride: number, x: Float32Array,
       positions: Int32Array, theta: number, interleaved: boolean, inverse: boolean): void;
  crossEntropyForward(rows: number, vocab: number, logits: Float32Array, targets: Int32Array, ignoreIndex: number,
                      losses: Float32Array, lse: Float32Array): number;
  crossEntropyBackward(rows: number, vocab: number, logits: Float32Array, targets: Int32Array, ignoreIndex: number,
                       lse: Float32Array, gradScale: number, dlogits: Float32Array): void;

  adamwStep(n: number, param: Float32Array, grad: Float32Array, m: Float32Array, v: Float32Array, lr: number, beta1: number,
            beta2: number, eps: number, weightDecay: number, step: number): void;
  sgdStep(n: number, param: Float32Array, grad: Float32Array, momentumBuf: Float32Array | null, lr: number, momentum: number,
          dampening: number, nesterov: boolean, weightDecay: number, firstStep: boolean): void;
  sumSquares(x: Float32Array, n: number): number;

  cudaDeviceCount(): { count: number; reason: string };
  cudaAlloc(floats: number): unknown;
  cudaFree(handle: unknown): void;
  cudaUpload(dst: DeviceView, host: Float32Array, n: number): void;
  cudaDownload(host: Float32Array, src: DeviceView, n: number): void;
  cudaCopy(dst: DeviceView, src: DeviceView, n: number): void;
  cudaSynchronize(): void;
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
