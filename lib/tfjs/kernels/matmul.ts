/**
 * BatchMatMul and _FusedMatMul on the native GEMM: batches broadcast (one side of batch 1), bias [n] and
 * relu as the GEMM's epilogue; other activations run after it (native where they are, tfjs's otherwise).
 */
import type { KernelConfig, TensorInfo } from '@tensorflow/tfjs-core';
import { tfjsAddon, type TfjsActivation } from '../native';
import { allocFloats } from '../memory';
import { cpuKernel, f32, type KernelArgs, output, override, sizeOf } from '../util';
import { broadcastShape, nativeUnary } from './elementwise';

interface MatMulPlan {
  outShape: number[];
  batch: number; m: number; n: number; k: number;
  aStride: number; bStride: number;
}

function plan(a: TensorInfo, b: TensorInfo, transA: boolean, transB: boolean): MatMulPlan | null {
  const ra = a.shape.length, rb = b.shape.length;
  if (ra < 2 || rb < 2) return null;
  const k = transA ? a.shape[ra - 2] : a.shape[ra - 1];
  const kb = transB ? b.shape[rb - 1] : b.shape[rb - 2];
  if (k !== kb) return null;  // tfjs's kernel throws its own message
  const m = transA ? a.shape[ra - 1] : a.shape[ra - 2];
  const n = transB ? b.shape[rb - 2] : b.shape[rb - 1];
  const outer = broadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
  if (!outer) return null;
  const batchA = sizeOf(a.shape.slice(0, -2)), batchB = sizeOf(b.shape.slice(0, -2)), batch = sizeOf(outer);
  if (!((batchA === batch || batchA === 1) && (batchB === batch || batchB === 1))) return null;
  return { outShape: [...outer, m, n], batch, m, n, k, aStride: batchA === 1 ? 0 : m * k, bStride: batchB === 1 ? 0 : k * n };
}

/** The product (plus bias [n] and the epilogue), or null when the native path does not apply. */
function matMulNative(args: KernelArgs, bias: TensorInfo | null, act: TfjsActivation): TensorInfo | null {
  const { a, b } = args.inputs;
  const backend = args.backend;
  const transA = Boolean(args.attrs?.transposeA), transB = Boolean(args.attrs?.transposeB);
  const av = f32(backend, a), bv = f32(backend, b);
  if (!av || !bv) return null;
  const p = plan(a, b, transA, transB);
  if (!p) return null;
  let biasValues: Float32Array | null = null;
  if (bias) {
    biasValues = f32(backend, bias);
    if (!biasValues || sizeOf(bias.shape) !== p.n || bias.shape[bias.shape.length - 1] !== p.n || bias.shape.length > p.outShape.length) return null;
  }
  const out = allocFloats(p.batch * p.m * p.n);
  if (out.length > 0) {
    tfjsAddon().tfjsMatMul({ a: av, b: bv, out, batch: p.batch, m: p.m, n: p.n, k: p.k, transA, transB, aStride: p.aStride, bStride: p.bStride,
      bias: biasValues, act });
  }
  return output(backend, p.outShape, out);
}

/** Applies a fused activation tfjs names (other than relu/linear) to x, disposing x. */
export function applyActivation(args: KernelArgs, x: TensorInfo, activation: string, prelu: TensorInfo | undefined, leakyAlpha: number | undefined): TensorInfo {
  const backend = args.backend;
  const run = (): TensorInfo => {
    const unaryArgs = { inputs: { x }, backend };
    switch (activation) {
      case 'linear': return x;
      case 'relu': return (nativeUnary('relu', unaryArgs) ?? cpuKernel('Relu')(unaryArgs)) as TensorInfo;
      case 'relu6': return (nativeUnary('relu6', unaryArgs) ?? cpuKernel('Relu6')(unaryArgs)) as TensorInfo;
      case 'elu': return (nativeUnary('elu', unaryArgs) ?? cpuKernel('Elu')(unaryArgs)) as TensorInfo;
      case 'sigmoid': return (nativeUnary('sigmoid', unaryArgs) ?? cpuKernel('Sigmoid')(unaryArgs)) as TensorInfo;
      case 'leakyrelu': {
        const alpha = leakyAlpha ?? 0.2;
        return (nativeUnary('leakyRelu', unaryArgs, alpha) ?? cpuKernel('LeakyRelu')({ ...unaryArgs, attrs: { alpha } })) as TensorInfo;
      }
      case 'prelu': return cpuKernel('Prelu')({ inputs: { x, alpha: prelu! }, backend }) as TensorInfo;
      default: throw new Error(`Activation ${activation} has not been implemented for the CPU backend.`);
    }
  };
  const y = run();
  if (y !== x) backend.disposeIntermediateTensorInfo(x);
  return y;
}

export function matMulKernels(): KernelConfig[] {
  return [
    override('BatchMatMul', (args) => matMulNative(args, null, 'none')),
    override('_FusedMatMul', (args) => {
      const { bias, preluActivationWeights } = args.inputs;
      const activation = (args.attrs?.activation as string | undefined) ?? 'linear';
      const epilogue: TfjsActivation = activation === 'relu' ? 'relu' : 'none';
      const y = matMulNative(args, bias ?? null, epilogue);
      if (!y) return null;
      if (activation === 'relu' || activation === 'linear') return y;
      return applyActivation(args, y, activation, preluActivationWeights, args.attrs?.leakyreluAlpha as number | undefined);
    }),
  ];
}
