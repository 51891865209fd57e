/**
 * Conv2D (and FusedConv2D), its two backprops, and 2-d pooling with its backprops, NHWC: im2col + the native
 * GEMM for convolutions (1x1 stride-1 convolutions are one GEMM with no im2col), direct loops for pooling.
 * NCHW and dilated pooling run tfjs's cpu kernels.
 */
import { backend_util, type KernelConfig, type TensorInfo } from '@tensorflow/tfjs-core';
import { type ConvGeometry, tfjsAddon } from '../native';
import { allocFloats } from '../memory';
import { f32, type KernelArgs, output, override, sizeOf } from '../util';
import { nativeBinary } from './elementwise';
import { applyActivation } from './matmul';

type Conv2DInfo = ReturnType<typeof backend_util.computeConv2DInfo>;
type Shape4 = [number, number, number, number];

function geometry(info: Conv2DInfo): ConvGeometry | null {
  if (info.dataFormat !== 'channelsLast') return null;
  return {
    batch: info.batchSize, inH: info.inHeight, inW: info.inWidth, inC: info.inChannels,
    outH: info.outHeight, outW: info.outWidth, outC: info.outChannels, fh: info.filterHeight, fw: info.filterWidth,
    strideH: info.strideHeight, strideW: info.strideWidth, dilH: info.dilationHeight, dilW: info.dilationWidth,
    padTop: info.padInfo.top, padLeft: info.padInfo.left,
  };
}

function dataFormat(args: KernelArgs): 'channelsLast' | 'channelsFirst' {
  return backend_util.convertConv2DDataFormat(((args.attrs?.dataFormat as 'NHWC' | 'NCHW' | undefined) ?? 'NHWC'));
}

function convInfo(args: KernelArgs, xShape: number[], filterShape: number[], dilations: unknown): Conv2DInfo | null {
  if (xShape.length !== 4 || filterShape.length !== 4) return null;
  const a = args.attrs ?? {};
  try {
    return backend_util.computeConv2DInfo(xShape as Shape4, filterShape as Shape4, a.strides as [number, number], dilations as [number, number],
      a.pad as 'same', a.dimRoundingMode as 'floor' | undefined, false, dataFormat(args));
  } catch {
    return null;  // tfjs's cpu kernel throws its own message
  }
}

function conv2dNative(args: KernelArgs, fused: boolean): TensorInfo | null {
  const { x, filter, bias, preluActivationWeights } = args.inputs;
  const backend = args.backend;
  const xv = f32(backend, x), wv = f32(backend, filter);
  if (!xv || !wv) return null;
  const info = convInfo(args, x.shape, filter.shape, args.attrs?.dilations ?? [1, 1]);
  const g = info && geometry(info);
  if (!info || !g || info.inChannels !== filter.shape[2]) return null;
  const activation = fused ? ((args.attrs?.activation as string | undefined) ?? 'linear') : 'linear';
  let bv: Float32Array | null = null;
  if (fused && bias) {
    bv = f32(backend, bias);
    if (!bv || sizeOf(bias.shape) !== g.outC || bias.shape.length > 4 || bias.shape[bias.shape.length - 1] !== g.outC) return null;
  }
  const out = allocFloats(sizeOf(info.outShape));
  if (out.length > 0) tfjsAddon().tfjsConv2d({ ...g, x: xv, filter: wv, out, bias: bv, act: activation === 'relu' ? 'relu' : 'none' });
  const y = output(backend, info.outShape, out);
  if (activation === 'relu' || activation === 'linear') return y;
  return applyActivation(args, y, activation, preluActivationWeights, args.attrs?.leakyreluAlpha as number | undefined);
}

function conv2dBackpropInputNative(args: KernelArgs): TensorInfo | null {
  const { dy, filter } = args.inputs;
  const backend = args.backend;
  const dyv = f32(backend, dy), wv = f32(backend, filter);
  const inputShape = args.attrs?.inputShape as number[] | undefined;
  if (!dyv || !wv || !inputShape) return null;
  const info = convInfo(args, inputShape, filter.shape, 1);
  const g = info && geometry(info);
  if (!info || !g || sizeOf(dy.shape) !== sizeOf(info.outShape)) return null;
  const dx = allocFloats(sizeOf(info.inShape));
  if (dx.length > 0) tfjsAddon().tfjsConv2dBackpropInput({ ...g, dy: dyv, filter: wv, dx });
  return output(backend, info.inShape, dx);
}

function conv2dBackpropFilterNative(args: KernelArgs): TensorInfo | null {
  const { x, dy } = args.inputs;
  const backend = args.backend;
  const xv = f32(backend, x), dyv = f32(backend, dy);
  const filterShape = args.attrs?.filterShape as number[] | undefined;
  if (!xv || !dyv || !filterShape) return null;
  const info = convInfo(args, x.shape, filterShape, 1);
  const g = info && geometry(info);
  if (!info || !g || sizeOf(dy.shape) !== sizeOf(info.outShape)) return null;
  const dw = allocFloats(sizeOf(info.filterShape));
  if (dw.length > 0) tfjsAddon().tfjsConv2dBackpropFilter({ ...g, x: xv, dy: dyv, dw });
  return output(backend, info.filterShape, dw);
}

function depthwiseInfo(args: KernelArgs, xShape: number[], filterShape: number[]): ConvGeometry | null {
  if (xShape.length !== 4 || filterShape.length !== 4) return null;
  const a = args.attrs ?? {};
  const dilations = (a.dilations as [number, number] | number | undefined) ?? [1, 1];
  if (a.dataFormat !== undefined && a.dataFormat !== 'NHWC') return null;
  try {
    if (!backend_util.eitherStridesOrDilationsAreOne(a.strides as [number, number], dilations)) return null;  // tfjs's error
    const info = backend_util.computeConv2DInfo(xShape as Shape4, filterShape as Shape4, a.strides as [number, number], dilations,
      a.pad as 'same', a.dimRoundingMode as 'floor' | undefined, true);
    if (info.inChannels !== filterShape[2] || info.inChannels < 1 || info.outChannels % info.inChannels !== 0) return null;
    return geometry(info);
  } catch {
    return null;
  }
}

function depthwiseNative(args: KernelArgs, fused: boolean): TensorInfo | null {
  const { x, filter, bias, preluActivationWeights } = args.inputs;
  const backend = args.backend;
  const xv = f32(backend, x), wv = f32(backend, filter);
  const g = xv && wv && depthwiseInfo(args, x.shape, filter.shape);
  if (!xv || !wv || !g) return null;
  if (fused && bias && (!f32(backend, bias) || sizeOf(bias.shape) !== g.outC)) return null;
  const shape = [g.batch, g.outH, g.outW, g.outC];
  const out = allocFloats(sizeOf(shape));
  if (out.length > 0) tfjsAddon().tfjsDepthwiseConv2d({ ...g, x: xv, filter: wv, out });
  let y = output(backend, shape, out);
  if (!fused) return y;
  if (bias) {
    const withBias = nativeBinary('add', { inputs: { a: y, b: bias }, backend }) as TensorInfo | null;
    if (!withBias) {
      backend.disposeIntermediateTensorInfo(y);
      return null;
    }
    backend.disposeIntermediateTensorInfo(y);
    y = withBias;
  }
  return applyActivation(args, y, (args.attrs?.activation as string | undefined) ?? 'linear', preluActivationWeights,
    args.attrs?.leakyreluAlpha as number | undefined);
}

function depthwiseBackpropInputNative(args: KernelArgs): TensorInfo | null {
  const { dy, filter } = args.inputs;
  const backend = args.backend;
  const dyv = f32(backend, dy), wv = f32(backend, filter);
  const inputShape = args.attrs?.inputShape as number[] | undefined;
  const g = dyv && wv && inputShape && depthwiseInfo(args, inputShape, filter.shape);
  if (!dyv || !wv || !inputShape || !g || g.dilH !== 1 || g.dilW !== 1 || sizeOf(dy.shape) !== g.batch * g.outH * g.outW * g.outC) return null;
  const dx = allocFloats(sizeOf(inputShape));
  if (dx.length > 0) tfjsAddon().tfjsDepthwiseConv2dBackpropInput({ ...g, dy: dyv, filter: wv, dx });
  return output(backend, [g.batch, g.inH, g.inW, g.inC], dx);
}

function depthwiseBackpropFilterNative(args: KernelArgs): TensorInfo | null {
  const { x, dy } = args.inputs;
  const backend = args.backend;
  const xv = f32(backend, x), dyv = f32(backend, dy);
  const filterShape = args.attrs?.filterShape as number[] | undefined;
  const g = xv && dyv && filterShape && depthwiseInfo(args, x.shape, filterShape);
  if (!xv || !dyv || !filterShape || !g || g.dilH !== 1 || g.dilW !== 1 || sizeOf(dy.shape) !== g.batch * g.outH * g.outW * g.outC) return null;
  const dw = allocFloats(sizeOf(filterShape));
  if (dw.length > 0) tfjsAddon().tfjsDepthwiseConv2dBackpropFilter({ ...g, x: xv, dy: dyv, dw });
  return output(backend, filterShape, dw);
}

function poolInfo(args: KernelArgs, xShape: number[]): ConvGeometry | null {
  if (xShape.length !== 4) return null;
  const a = args.attrs ?? {};
  let info: Conv2DInfo;
  try {
    info = backend_util.computePool2DInfo(xShape as Shape4, a.filterSize as [number, number], a.strides as [number, number], 1,
      a.pad as 'same', a.dimRoundingMode as 'floor' | undefined);
  } catch {
    return null;
  }
  const g = geometry(info);
  return g && { ...g, outC: g.inC };
}

function poolNative(op: 'max' | 'avg', args: KernelArgs): TensorInfo | null {
  const { x } = args.inputs;
  const xv = f32(args.backend, x);
  const g = xv && poolInfo(args, x.shape);
  if (!xv || !g) return null;
  if (g.fh === 1 && g.fw === 1 && g.outH === g.inH && g.outW === g.inW) return null;  // tfjs returns the input itself
  const shape = [g.batch, g.outH, g.outW, g.inC];
  const out = allocFloats(sizeOf(shape));
  if (out.length > 0) tfjsAddon().tfjsPool({ ...g, op, x: xv, out });
  return output(args.backend, shape, out);
}

function maxPoolGradNative(args: KernelArgs): TensorInfo | null {
  const { dy, input } = args.inputs;
  const backend = args.backend;
  const dyv = f32(backend, dy), xv = f32(backend, input);
  const g = dyv && xv && poolInfo(args, input.shape);
  if (!dyv || !xv || !g || sizeOf(dy.shape) !== g.batch * g.outH * g.outW * g.inC) return null;
  const dx = allocFloats(sizeOf(input.shape));
  if (dx.length > 0) tfjsAddon().tfjsMaxPoolBackprop({ ...g, x: xv, dy: dyv, dx });
  return output(backend, input.shape, dx);
}

function avgPoolGradNative(args: KernelArgs): TensorInfo | null {
  const { dy, input } = args.inputs;
  const backend = args.backend;
  const dyv = f32(backend, dy);
  const g = dyv && input.dtype === 'float32' && poolInfo(args, input.shape);
  if (!dyv || !g || sizeOf(dy.shape) !== g.batch * g.outH * g.outW * g.inC) return null;
  const dx = allocFloats(sizeOf(input.shape));
  if (dx.length > 0) tfjsAddon().tfjsAvgPoolBackprop({ ...g, dy: dyv, dx });
  return output(backend, input.shape, dx);
}

export function convKernels(): KernelConfig[] {
  return [
    override('Conv2D', (args) => conv2dNative(args, false)),
    override('FusedConv2D', (args) => conv2dNative(args, true)),
    override('Conv2DBackpropInput', conv2dBackpropInputNative),
    override('Conv2DBackpropFilter', conv2dBackpropFilterNative),
    override('DepthwiseConv2dNative', (args) => depthwiseNative(args, false)),
    override('FusedDepthwiseConv2D', (args) => depthwiseNative(args, true)),
    override('DepthwiseConv2dNativeBackpropInput', depthwiseBackpropInputNative),
    override('DepthwiseConv2dNativeBackpropFilter', depthwiseBackpropFilterNative),
    override('MaxPool', (args) => poolNative('max', args)),
    override('AvgPool', (args) => poolNative('avg', args)),
    override('MaxPoolGrad', maxPoolGradNative),
    override('AvgPoolGrad', avgPoolGradNative),
  ];
}
