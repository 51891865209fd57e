/** peftjs: parameter-efficient fine-tuning for TypeScript on a native tensor addon. */
import * as fs from 'fs';
import * as path from 'path';
import { type CudaGemmLibrary, loadAddon, loadError, type NativeInfo, packageRoot } from './backend/native/addon';
import { availableBackends, getBackend } from './backend';

export { availableBackends, backend, backendStatus, getBackend, listKernels, setBackend, withBackend } from './backend';
export { setCudaAllowTf32 } from './backend/cuda';
export type { Backend, BackendName, Buf, Device, GemmParams, KernelName, Storage } from './backend/types';
export { Tensor, memory } from './tensor/tensor';
export type { NestedArray } from './tensor/tensor';
export { tidy, keep, dispose } from './tensor/scope';
export { noGrad, enableGrad, isGradEnabled, releaseGraph, GradNode } from './tensor/autograd';
export type { BackwardOptions } from './tensor/autograd';
export { empty, full, zeros, ones, fromArray, tensor, arange, rand, randn, manualSeed, getRandomState, setRandomState } from './tensor/creation';
export type { RandomState } from './tensor/creation';
export { seedCounter, getSeedCounters, setSeedCounters, resetSeedCounters } from './tensor/seed_counters';
export type { SeedCounter } from './tensor/seed_counters';
export * from './tensor/ops';

export interface Info {
  version: string;
  backend: string;
  availableBackends: string[];
  native: NativeInfo | null;
  nativeLoadError?: string;
  /** Where the addon has CUDA and sees a device: the library its GEMMs run on. */
  cudaGemm?: CudaGemmLibrary;
}

/** What this installation is: version, active backend, and the addon's CPU path, threads and CUDA. */
export function info(): Info {
  const addon = loadAddon();
  const version = JSON.parse(fs.readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')).version as string;
  const out: Info = { version, backend: getBackend().name, availableBackends: availableBackends(), native: addon ? addon.info() : null };
  if (!addon) out.nativeLoadError = loadError()?.message;
  if (out.native?.cudaCompiled && out.native.cudaDevices > 0) out.cudaGemm = addon!.cudaGemmLibrary();
  return out;
}

/** Sets the native thread pool's size (PEFTJS_NUM_THREADS sets it at load). */
export function setNumThreads(n: number): number {
  const addon = loadAddon();
  if (!addon) throw new Error(`setNumThreads: the native addon is not loaded (${loadError()?.message})`);
  return addon.setNumThreads(n);
}
// The differentiable ops (raw kernel calls stay internal: lib/ops/<op>/launch.ts).
export { loraAdd, loraLinear, loraMixed } from './ops/lora/op';
export type { LoraOptions } from './ops/lora/launch';
export type { LoraAdapterWeights } from './ops/lora/mixed';
export { ia3Linear, ia3Mixed } from './ops/ia3/op';
export type { Ia3Mode } from './ops/ia3/kernel';
export { diffPrunedWeight } from './ops/diff_prune/op';
export type { DiffPruneRun } from './ops/diff_prune/op';
export { projectToDensity, toSparse, fromSparse } from './ops/diff_prune/launch';
export { DEFAULT_GATE, type GateOptions } from './ops/diff_prune/kernel';
export { NO_ADAPTER } from './ops/mixed_rows';
export { QuantizedTensor } from './quant/quantized_tensor';
export type { QuantizeOptions } from './quant/quantized_tensor';
export { QuantizedLinear, quantizedLinear, type ComputeDtype } from './quant/quantized_linear';
export { quantizeModel, quantizationConfigFormat, setComputeDtype } from './quant/quantize_model';
export type { ModelQuantization, QuantizationConfig } from './quant/quantize_model';
export type { WeightFormat } from './ops/dequantize/kernel';
export * from './io';
export { intTensor } from './tensor/int_tensor';
export type { IntTensor } from './tensor/int_tensor';
export { rmsNorm, layerNorm } from './ops/norm/op';
export { embedding } from './ops/embedding/op';
export { rope } from './ops/rope/op';
export type { RopeOptions } from './ops/rope/op';
export { attention } from './ops/attention/op';
export type { AttentionOptions } from './ops/attention/op';
export { crossEntropy, IGNORE_INDEX } from './ops/cross_entropy/op';
export { concat, dropout } from './tensor/shape_ops';
export { kron } from './tensor/kron_op';
export * from './nn';
export * from './optim';
export * from './peft';
export { LORA_DEFAULT_TARGETS, loraDefaultTargets } from './peft/target_module_mapping';
export * from './train';
/** Data-parallel collectives over MPI (initDistributed, worldSize, rank, allReduce, broadcast, barrier). */
export * as dist from './dist';
