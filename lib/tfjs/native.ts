/**
 * The addon entries the tfjs backend calls: its own (csrc/binding/tfjs_binding.cc) and the primitives it
 * shares with peftjs (softmax, stridedCopy, stridedScatter). Each takes one params object, buffers as
 * Float32Arrays; the addon checks every size against the buffers before touching memory.
 */
import { loadAddon, loadError } from '../backend/native/addon';

export type TfjsBinaryOp = 'add' | 'sub' | 'mul' | 'div' | 'max' | 'min' | 'squaredDifference' | 'eluGrad';
export type TfjsUnaryOp = 'relu' | 'relu6' | 'sigmoid' | 'tanh' | 'exp' | 'log' | 'sqrt' | 'rsqrt' | 'square' | 'abs' | 'neg'
  | 'step' | 'elu' | 'leakyRelu' | 'reciprocal';
export type TfjsReduceOp = 'sum' | 'mean' | 'max' | 'min' | 'prod';
export type TfjsActivation = 'none' | 'relu';

/** NHWC convolution / pooling geometry (pooling: outC = inC). */
export interface ConvGeometry {
  batch: number; inH: number; inW: number; inC: number; outH: number; outW: number; outC: number;
  fh: number; fw: number; strideH: number; strideW: number; dilH: number; dilW: number; padTop: number; padLeft: number;
}

export interface TfjsAddon {
  tfjsBinary(p: { op: TfjsBinaryOp; a: Float32Array; b: Float32Array; out: Float32Array; shape: number[]; aStrides: number[]; bStrides: number[] }): void;
  tfjsUnary(p: { op: TfjsUnaryOp; a: Float32Array; out: Float32Array; n: number; alpha: number }): void;
  tfjsReduce(p: { op: TfjsReduceOp; a: Float32Array; out: Float32Array; outer: number; red: number; inner: number }): void;
  tfjsMatMul(p: {
    a: Float32Array; b: Float32Array; out: Float32Array; batch: number; m: number; n: number; k: number; transA: boolean; transB: boolean;
    aStride: number; bStride: number; bias: Float32Array | null; act: TfjsActivation;
  }): void;
  tfjsConv2d(p: ConvGeometry & { x: Float32Array; filter: Float32Array; out: Float32Array; bias: Float32Array | null; act: TfjsActivation }): void;
  tfjsConv2dBackpropInput(p: ConvGeometry & { dy: Float32Array; filter: Float32Array; dx: Float32Array }): void;
  tfjsConv2dBackpropFilter(p: ConvGeometry & { x: Float32Array; dy: Float32Array; dw: Float32Array }): void;
  tfjsDepthwiseConv2d(p: ConvGeometry & { x: Float32Array; filter: Float32Array; out: Float32Array }): void;
  tfjsDepthwiseConv2dBackpropInput(p: ConvGeometry & { dy: Float32Array; filter: Float32Array; dx: Float32Array }): void;
  tfjsDepthwiseConv2dBackpropFilter(p: ConvGeometry & { x: Float32Array; dy: Float32Array; dw: Float32Array }): void;
  tfjsPool(p: ConvGeometry & { op: 'max' | 'avg'; x: Float32Array; out: Float32Array }): void;
  tfjsMaxPoolBackprop(p: ConvGeometry & { x: Float32Array; dy: Float32Array; dx: Float32Array }): void;
  tfjsAvgPoolBackprop(p: ConvGeometry & { dy: Float32Array; dx: Float32Array }): void;
  tfjsGather(p: { x: Float32Array; indices: Int32Array; out: Float32Array; batch: number; outer: number; dim: number; nIdx: number; slice: number }): void;
  tfjsBatchNorm(p: {
    x: Float32Array; out: Float32Array; n: number; mean: Float32Array; mLen: number; variance: Float32Array; vLen: number;
    offset: Float32Array | null; oLen: number; scale: Float32Array | null; sLen: number; eps: number;
  }): void;
  /** Makes a fresh array's pages resident (huge pages where whole 2 MiB pieces fit); false where the system cannot. */
  tfjsPopulatePages(p: { out: Float32Array }): boolean;
  fill(p: { out: Float32Array; n: number; value: number }): void;
  softmax(p: { a: Float32Array; out: Float32Array; rows: number; cols: number }): void;
  stridedCopy(p: { src: Float32Array; dst: Float32Array; shape: number[]; strides: number[] }): void;
  stridedScatter(p: { src: Float32Array; dst: Float32Array; shape: number[]; strides: number[] }): void;
}

let cached: TfjsAddon | undefined;

/** The addon with the tfjs entries; throws, saying why, when it is not built or predates them. */
export function tfjsAddon(): TfjsAddon {
  if (cached) return cached;
  const addon = loadAddon() as unknown as (TfjsAddon & Record<string, unknown>) | null;
  if (!addon) throw new Error(`peftjs/tfjs: the native addon did not load (${loadError()?.message ?? 'unknown reason'}); run \`npm install\` to build it`);
  if (typeof addon.tfjsMatMul !== 'function') throw new Error('peftjs/tfjs: the native addon has no tfjs kernels; rebuild it (`npm run build:gyp`)');
  cached = addon;
  return addon;
}
