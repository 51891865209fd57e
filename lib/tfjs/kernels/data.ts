/**
 * Data movement: GatherV2 (native gather of rows), Slice (a strided copy where tfjs's cpu kernel walks a
 * TensorBuffer element by element; contiguous slices stay tfjs's zero-copy subarray), Concat (one strided
 * scatter per input), PadV2 (fill + a strided scatter) and ZerosLike, float32 only; any other dtype, and
 * every input tfjs rejects, runs tfjs's cpu kernel (which raises its own errors).
 */
import { backend_util, type KernelConfig, slice_util, type TensorInfo, util } from '@tensorflow/tfjs-core';
import { allocFloats } from '../memory';
import { tfjsAddon } from '../native';
import { f32, type KernelArgs, output, override, sizeOf, stridesOf } from '../util';

function isInt32Array(v: unknown): v is Int32Array {
  return v instanceof Int32Array || (ArrayBuffer.isView(v) && (v as object).constructor?.name === 'Int32Array');
}

function gatherNative(args: KernelArgs): TensorInfo | null {
  const { x, indices } = args.inputs;
  const backend = args.backend;
  const xv = f32(backend, x);
  if (!xv || indices.dtype !== 'int32') return null;
  const iv = backend.data.get(indices.dataId)?.values;
  if (!isInt32Array(iv)) return null;
  let info: ReturnType<typeof backend_util.segment_util.collectGatherOpShapeInfo>;
  let axis: number;
  try {
    axis = util.parseAxisParam(args.attrs?.axis as number, x.shape)[0];
    info = backend_util.segment_util.collectGatherOpShapeInfo(x as never, indices as never, axis, (args.attrs?.batchDims as number | undefined) ?? 0);
  } catch {
    return null;
  }
  const dim = x.shape[axis];
  for (let i = 0; i < iv.length; i++) if (iv[i] < 0 || iv[i] >= dim) return null;  // tfjs's message
  const nIdx = info.batchSize === 0 ? 0 : iv.length / info.batchSize;
  const n = sizeOf(info.outputShape);
  if (n === 0 || !Number.isInteger(nIdx) || n !== info.batchSize * info.outerSize * nIdx * info.sliceSize) return null;
  const out = allocFloats(n);
  tfjsAddon().tfjsGather({ x: xv, indices: iv, out, batch: info.batchSize, outer: info.outerSize, dim: info.dimSize, nIdx, slice: info.sliceSize });
  return output(backend, info.outputShape, out);
}

function sliceNative(args: KernelArgs): TensorInfo | null {
  const { x } = args.inputs;
  const xv = f32(args.backend, x);
  if (!xv) return null;
  let begin: number[], size: number[];
  try {
    [begin, size] = slice_util.parseSliceParams(x as never, args.attrs?.begin as number[], args.attrs?.size as number[]);
    slice_util.assertParamsValid(x as never, begin, size);
  } catch {
    return null;
  }
  const n = sizeOf(size);
  if (n === 0 || slice_util.isSliceContinous(x.shape, begin, size)) return null;  // tfjs: a subarray, no copy
  const st = stridesOf(x.shape);
  let offset = 0;
  for (let d = 0; d < begin.length; d++) offset += begin[d] * st[d];
  const out = allocFloats(n);
  tfjsAddon().stridedCopy({ src: xv.subarray(offset), dst: out, shape: size, strides: st });
  return output(args.backend, size, out);
}

function concatNative(args: KernelArgs): TensorInfo | null {
  const inputs = args.inputs as unknown as TensorInfo[];
  const backend = args.backend;
  if (!Array.isArray(inputs) || inputs.length < 2) return null;
  const values = inputs.map((t) => f32(backend, t));
  if (values.some((v) => !v)) return null;
  let axis: number, outShape: number[];
  try {
    axis = util.parseAxisParam(args.attrs?.axis as number, inputs[0].shape)[0];
    backend_util.assertParamsConsistent(inputs.map((t) => t.shape), axis);
    outShape = backend_util.computeOutShape(inputs.map((t) => t.shape), axis);
  } catch {
    return null;
  }
  const n = sizeOf(outShape);
  if (n === 0 || inputs.filter((t) => sizeOf(t.shape) > 0).length < 2) return null;  // tfjs: empty, or the one input itself
  const outer = sizeOf(outShape.slice(0, axis)), outInner = n / outer;
  const out = allocFloats(n);
  const addon = tfjsAddon();
  let col = 0;
  inputs.forEach((t, i) => {
    const inner = sizeOf(t.shape.slice(axis));
    if (inner > 0 && outer > 0) addon.stridedScatter({ src: values[i]!, dst: out.subarray(col), shape: [outer, inner], strides: [outInner, 1] });
    col += inner;
  });
  return output(backend, outShape, out);
}

function padNative(args: KernelArgs): TensorInfo | null {
  const { x } = args.inputs;
  const xv = f32(args.backend, x);
  const paddings = args.attrs?.paddings as Array<[number, number]> | undefined;
  const value = Number(args.attrs?.constantValue ?? 0);
  if (!xv || !paddings || paddings.length !== x.shape.length || x.shape.length === 0) return null;
  if (!paddings.every((p) => Array.isArray(p) && Number.isInteger(p[0]) && Number.isInteger(p[1]) && p[0] >= 0 && p[1] >= 0)) return null;
  const outShape = x.shape.map((s, i) => paddings[i][0] + s + paddings[i][1]);
  const n = sizeOf(outShape);
  if (n === 0) return null;
  const out = allocFloats(n);
  const addon = tfjsAddon();
  addon.fill({ out, n, value });
  if (xv.length > 0) {
    const st = stridesOf(outShape);
    let offset = 0;
    for (let d = 0; d < st.length; d++) offset += paddings[d][0] * st[d];
    addon.stridedScatter({ src: xv, dst: out.subarray(offset), shape: x.shape, strides: st });
  }
  return output(args.backend, outShape, out);
}

function zerosLikeNative(args: KernelArgs): TensorInfo | null {
  const { x } = args.inputs;
  if (x.dtype !== 'float32') return null;
  const n = sizeOf(x.shape);
  if (n === 0) return null;
  const out = allocFloats(n);
  tfjsAddon().fill({ out, n, value: 0 });
  return output(args.backend, x.shape, out);
}

export function dataKernels(): KernelConfig[] {
  return [
    override('GatherV2', gatherNative),
    override('Slice', sliceNative),
    override('Concat', concatNative),
    override('PadV2', padNative),
    override('ZerosLike', zerosLikeNative),
  ];
}
