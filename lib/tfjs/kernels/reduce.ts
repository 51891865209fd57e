/**
 * Reductions (Sum, Mean, Max, Min, Prod) over any axes, Softmax over the last axis, Transpose and Tile.
 * A contiguous block of reduced axes is reduced in place ([outer, red, inner]); other axis sets are first
 * transposed (the native strided copy) so the reduced axes are innermost, as tfjs's cpu kernels do.
 */
import { backend_util, type KernelConfig, type TensorInfo, util } from '@tensorflow/tfjs-core';
import { tfjsAddon, type TfjsReduceOp } from '../native';
import { allocFloats, freeScratch } from '../memory';
import { f32, type KernelArgs, output, override, sizeOf, stridesOf } from '../util';

/** Gathers x's values permuted by perm into a new array. */
export function transposeValues(values: Float32Array, shape: readonly number[], perm: readonly number[]): Float32Array {
  const st = stridesOf(shape);
  const out = allocFloats(values.length === 0 ? 0 : sizeOf(shape));
  if (out.length > 0) tfjsAddon().stridedCopy({ src: values, dst: out, shape: perm.map((p) => shape[p]), strides: perm.map((p) => st[p]) });
  return out;
}

function reduceNative(op: TfjsReduceOp, axisAttr: 'axis' | 'reductionIndices', args: KernelArgs): TensorInfo | null {
  const { x } = args.inputs;
  const backend = args.backend;
  const xv = f32(backend, x);
  if (!xv) return null;
  const rank = x.shape.length;
  let axes: number[];
  try {
    axes = util.parseAxisParam(args.attrs?.[axisAttr] as number | number[], x.shape);
  } catch {
    return null;  // the cpu kernel throws tfjs's message
  }
  axes = [...new Set(axes)].sort((p, q) => p - q);
  const keepDims = Boolean(args.attrs?.keepDims);
  const [outShape, reduceShape] = backend_util.computeOutAndReduceShapes(x.shape, axes);
  const red = sizeOf(reduceShape);
  if (sizeOf(x.shape) === 0 || red === 0 || axes.length === 0) return null;
  let values = xv, shape = x.shape as number[], first = axes[0], last = axes[axes.length - 1];
  if (last - first + 1 !== axes.length) {
    const perm = backend_util.getAxesPermutation(axes, rank)!;
    values = transposeValues(xv, x.shape, perm);
    shape = perm.map((p) => x.shape[p]);
    first = rank - axes.length;
    last = rank - 1;
  }
  const outer = sizeOf(shape.slice(0, first)), inner = sizeOf(shape.slice(last + 1));
  const out = allocFloats(outer * inner);
  tfjsAddon().tfjsReduce({ op, a: values, out, outer, red, inner });
  if (values !== xv) freeScratch(values);
  return output(backend, keepDims ? backend_util.expandShapeToKeepDim(outShape, axes) : outShape, out);
}

function softmaxNative(args: KernelArgs): TensorInfo | null {
  const { logits } = args.inputs;
  const lv = f32(args.backend, logits);
  const rank = logits.shape.length;
  if (!lv || rank === 0) return null;
  const dim = args.attrs?.dim as number | undefined;
  if (dim !== undefined && dim !== -1 && dim !== rank - 1) return null;
  const cols = logits.shape[rank - 1], n = sizeOf(logits.shape);
  if (cols === 0 || n === 0) return null;
  const out = allocFloats(n);
  tfjsAddon().softmax({ a: lv, out, rows: n / cols, cols });
  return output(args.backend, logits.shape, out);
}

function transposeNative(args: KernelArgs): TensorInfo | null {
  const { x } = args.inputs;
  const xv = f32(args.backend, x);
  const perm = args.attrs?.perm as number[] | undefined;
  if (!xv || !perm || perm.length !== x.shape.length) return null;
  return output(args.backend, perm.map((p) => x.shape[p]), transposeValues(xv, x.shape, perm));
}

/** Tile as one strided copy: output dimension d read as (reps[d], shape[d]) with stride 0 over the reps. */
function tileNative(args: KernelArgs): TensorInfo | null {
  const { x } = args.inputs;
  const xv = f32(args.backend, x);
  const reps = args.attrs?.reps as number[] | undefined;
  if (!xv || !reps || reps.length !== x.shape.length || !reps.every((r) => Number.isInteger(r) && r >= 0)) return null;
  const outShape = x.shape.map((s, i) => s * reps[i]);
  const out = allocFloats(sizeOf(outShape));
  if (out.length > 0) {
    // Output dimension d read as (reps[d], shape[d]) with stride 0 over the reps; size-1 dimensions dropped
    // so the innermost loop is as long as it can be (a [8,256,1] tiled by [1,1,512] copies rows of 512).
    const st = stridesOf(x.shape), shape: number[] = [], strides: number[] = [];
    x.shape.forEach((s, i) => {
      if (reps[i] !== 1) { shape.push(reps[i]); strides.push(0); }
      if (s !== 1) { shape.push(s); strides.push(st[i]); }
    });
    if (shape.length === 0) { shape.push(1); strides.push(0); }
    tfjsAddon().stridedCopy({ src: xv, dst: out, shape, strides });
  }
  return output(args.backend, outShape, out);
}

export function reduceKernels(): KernelConfig[] {
  return [
    override('Sum', (args) => reduceNative('sum', 'axis', args)),
    override('Mean', (args) => reduceNative('mean', 'axis', args)),
    override('Max', (args) => reduceNative('max', 'reductionIndices', args)),
    override('Min', (args) => reduceNative('min', 'axis', args)),
    override('Prod', (args) => reduceNative('prod', 'axis', args)),
    override('Softmax', softmaxNative),
    override('Transpose', transposeNative),
    override('Tile', tileNative),
  ];
}
