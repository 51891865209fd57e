/**
 * Elementwise kernels: the binary ops with tfjs's N-d broadcasting, and the unary activations (float32;
 * anything else runs tfjs's cpu kernel).
 */
import type { KernelConfig } from '@tensorflow/tfjs-core';
import { tfjsAddon, type TfjsBinaryOp, type TfjsUnaryOp } from '../native';
import { allocFloats } from '../memory';
import { f32, type KernelArgs, type NativeKernel, output, override, sizeOf, stridesOf } from '../util';

/** The broadcast shape of a and b (numpy rules), or null when they do not broadcast. */
export function broadcastShape(a: readonly number[], b: readonly number[]): number[] | null {
  const rank = Math.max(a.length, b.length);
  const out = new Array<number>(rank);
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1, db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) return null;
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/** Strides of `shape` read as `outShape` (right-aligned): 0 along broadcast dimensions. */
export function broadcastStrides(shape: readonly number[], outShape: readonly number[]): number[] {
  const st = stridesOf(shape), off = outShape.length - shape.length;
  return outShape.map((_, i) => (i < off || shape[i - off] === 1 ? 0 : st[i - off]));
}

/** out = a op b over the broadcast shape; null when it does not apply (the cpu kernel then runs or throws). */
export function nativeBinary(op: TfjsBinaryOp, args: KernelArgs): ReturnType<NativeKernel> {
  const { a, b } = args.inputs;
  const backend = args.backend;
  const av = f32(backend, a), bv = f32(backend, b);
  if (!av || !bv) return null;
  const outShape = broadcastShape(a.shape, b.shape);
  if (!outShape) return null;
  const n = sizeOf(outShape);
  const out = allocFloats(n);
  if (n > 0) {
    const same = sizeOf(a.shape) === n && sizeOf(b.shape) === n;
    tfjsAddon().tfjsBinary(same
      ? { op, a: av, b: bv, out, shape: [n], aStrides: [1], bStrides: [1] }
      : { op, a: av, b: bv, out, shape: outShape, aStrides: broadcastStrides(a.shape, outShape), bStrides: broadcastStrides(b.shape, outShape) });
  }
  return output(backend, outShape, out);
}

export function nativeUnary(op: TfjsUnaryOp, args: KernelArgs, alpha = 0): ReturnType<NativeKernel> {
  const { x } = args.inputs;
  const xv = f32(args.backend, x);
  if (!xv) return null;
  const n = sizeOf(x.shape);
  const out = allocFloats(n);
  if (n > 0) tfjsAddon().tfjsUnary({ op, a: xv, out, n, alpha });
  return output(args.backend, x.shape, out);
}

/**
 * FusedBatchNorm as tfjs's cpu kernel defines it: mean, variance, offset and scale read cyclically by flat
 * index (not broadcast by shape), computed in double.
 */
function batchNormNative(args: KernelArgs): ReturnType<NativeKernel> {
  const { x, mean, variance, offset, scale } = args.inputs;
  const backend = args.backend;
  const xv = f32(backend, x), mv = f32(backend, mean), vv = f32(backend, variance);
  const ov = offset ? f32(backend, offset) : null, sv = scale ? f32(backend, scale) : null;
  if (!xv || !mv || !vv || (offset && !ov) || (scale && !sv)) return null;
  const rank = mean.shape.length;
  if (variance.shape.length !== rank || (offset && offset.shape.length !== rank) || (scale && scale.shape.length !== rank)) return null;  // tfjs's asserts
  const n = xv.length;
  if (n === 0 || mv.length === 0 || vv.length === 0 || (ov && ov.length === 0) || (sv && sv.length === 0)) return null;
  const eps = (args.attrs?.varianceEpsilon as number | undefined) ?? 0.001;
  const out = allocFloats(n);
  tfjsAddon().tfjsBatchNorm({ x: xv, out, n, mean: mv, mLen: mv.length, variance: vv, vLen: vv.length, offset: ov, oLen: ov ? ov.length : 1,
    scale: sv, sLen: sv ? sv.length : 1, eps });
  return output(backend, x.shape, out);
}

const BINARY: Array<[string, TfjsBinaryOp]> = [
  ['Add', 'add'], ['Sub', 'sub'], ['Multiply', 'mul'], ['RealDiv', 'div'], ['Maximum', 'max'], ['Minimum', 'min'],
  ['SquaredDifference', 'squaredDifference'],
];

const UNARY: Array<[string, TfjsUnaryOp]> = [
  ['Relu', 'relu'], ['Relu6', 'relu6'], ['Sigmoid', 'sigmoid'], ['Tanh', 'tanh'], ['Exp', 'exp'], ['Log', 'log'], ['Sqrt', 'sqrt'],
  ['Rsqrt', 'rsqrt'], ['Square', 'square'], ['Abs', 'abs'], ['Neg', 'neg'], ['Elu', 'elu'], ['Reciprocal', 'reciprocal'],
];

export function elementwiseKernels(): KernelConfig[] {
  return [
    ...BINARY.map(([name, op]) => override(name, (args) => nativeBinary(op, args))),
    ...UNARY.map(([name, op]) => override(name, (args) => nativeUnary(op, args))),
    override('Step', (args) => nativeUnary('step', args, (args.attrs?.alpha as number | undefined) ?? 0)),
    override('FusedBatchNorm', batchNormNative),
    // EluGrad(dy, y): y >= 0 ? dy : dy * (y + 1); tfjs takes same-shaped inputs only.
    override('EluGrad', (args) => {
      const { dy, y } = args.inputs;
      if (!dy || !y || dy.shape.length !== y.shape.length || dy.shape.some((d, i) => d !== y.shape[i])) return null;
      return nativeBinary('eluGrad', { ...args, inputs: { a: dy, b: y } });
    }),
    override('LeakyRelu', (args) => nativeUnary('leakyRelu', args, (args.attrs?.alpha as number | undefined) ?? 0.2)),
  ];
}
