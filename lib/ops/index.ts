/**
 * The op list: every kernel beyond the primitives, one family per folder, found by the op's name:
 * lib/ops/<op>/kernel.ts (the params every backend takes, and the argument checks every backend runs),
 * reference.ts (the math as plain loops, and the js backend's kernels), launch.ts (the kernels called on
 * tensors) and op.ts (the differentiable op), csrc/kernels/<op>/ and csrc/binding/<op>_binding.cc (the
 * native kernels), test/ops/<op>.test.ts. A new op adds one line to each list below (docs/DESIGN.md).
 */
import type { KernelChecks } from '../backend/checks';
import { type AttentionKernels, attentionChecks } from './attention/kernel';
import { jsAttentionKernels } from './attention/reference';
import { type BitfitKernels, bitfitChecks } from './bitfit/kernel';
import { jsBitfitKernels } from './bitfit/reference';
import { type CrossEntropyKernels, crossEntropyChecks } from './cross_entropy/kernel';
import { jsCrossEntropyKernels } from './cross_entropy/reference';
import { type DequantizeKernels, dequantizeChecks } from './dequantize/kernel';
import { jsDequantizeKernels } from './dequantize/reference';
import { type DiffPruneKernels, diffPruneChecks } from './diff_prune/kernel';
import { jsDiffPruneKernels } from './diff_prune/reference';
import { type EmbeddingKernels, embeddingChecks } from './embedding/kernel';
import { jsEmbeddingKernels } from './embedding/reference';
import { type GemmBf16Kernels, gemmBf16Checks } from './gemm_bf16/kernel';
import { jsGemmBf16Kernels } from './gemm_bf16/reference';
import { type GradOpsKernels, gradOpsChecks } from './grad_ops/kernel';
import { jsGradOpsKernels } from './grad_ops/reference';
import { type Ia3Kernels, ia3Checks } from './ia3/kernel';
import { jsIa3Kernels } from './ia3/reference';
import { type LoraKernels, loraChecks } from './lora/kernel';
import { jsLoraKernels } from './lora/reference';
import { type NormKernels, normChecks } from './norm/kernel';
import { jsNormKernels } from './norm/reference';
import { type OptimKernels, optimChecks } from './optim/kernel';
import { jsOptimKernels } from './optim/reference';
import { type RopeKernels, ropeChecks } from './rope/kernel';
import { jsRopeKernels } from './rope/reference';

/** Every op kernel by name; a backend may run any subset (listKernels says which). */
export interface OpKernels extends LoraKernels, Ia3Kernels, DiffPruneKernels, BitfitKernels, GradOpsKernels, NormKernels,
  EmbeddingKernels, RopeKernels, CrossEntropyKernels, AttentionKernels, OptimKernels, DequantizeKernels,
  GemmBf16Kernels {}
export type OpKernelName = keyof OpKernels;

/** Each op kernel's argument checks, run before the kernel on every backend. */
export const OP_CHECKS: KernelChecks<OpKernels> = {
  ...loraChecks, ...ia3Checks, ...diffPruneChecks, ...bitfitChecks, ...gradOpsChecks, ...normChecks,
  ...embeddingChecks, ...ropeChecks, ...crossEntropyChecks, ...attentionChecks, ...optimChecks, ...dequantizeChecks,
  ...gemmBf16Checks,
};

export const OP_KERNEL_NAMES = Object.keys(OP_CHECKS) as OpKernelName[];

/** The reference kernels: the js backend runs every op through them. */
export const REFERENCE_KERNELS: OpKernels = {
  ...jsLoraKernels, ...jsIa3Kernels, ...jsDiffPruneKernels, ...jsBitfitKernels, ...jsGradOpsKernels, ...jsNormKernels,
  ...jsEmbeddingKernels, ...jsRopeKernels, ...jsCrossEntropyKernels, ...jsAttentionKernels, ...jsOptimKernels,
  ...jsDequantizeKernels, ...jsGemmBf16Kernels,
};
