/**
 * What a PEFT method implements. Layer methods (LoRA, IA3, adapters, diff pruning) replace targeted
 * modules by AdapterLayers that wrap the original as `base_layer` and hold one set of weights per adapter
 * name; prompt-learning methods run the model with virtual tokens or prefixes; selection methods (BitFit,
 * layer freezing) only choose which base parameters train.
 */
import type { RawTensor } from '../io/safetensors_dtypes';
import type { RawTensorInput } from '../io/safetensors_write';
import type { Module } from '../nn/module';
import type { Tensor } from '../tensor/tensor';

/** A saved adapter tensor: a float Tensor, or raw values in another dtype (diff pruning's I64 indices). */
export type AdapterTensor = Tensor | RawTensorInput;
import type { PeftConfig, PeftType } from './config';
import type { PeftModel } from './peft_model';

export interface AdapterLayer extends Module {
  readonly isAdapterLayer: true;
  /** The wrapped original module (HF's `base_layer`). */
  readonly base_layer: Module;
  adapterNames(): string[];
  /** The adapters that run (several are summed where the method allows it). */
  setActiveAdapters(names: string[]): void;
  /** When true the layer is its base layer (disableAdapter()). */
  disabled: boolean;
  deleteAdapter(name: string): void;
  /** Folds adapters into the base weights (a method that cannot merge throws, naming itself). */
  merge(names: string[]): void;
  unmerge(): void;
  readonly mergedAdapters: readonly string[];
  /**
   * A mixed batch (HF's `adapter_names` pre-forward hook): the adapter of each sample ('__base__' for
   * none), set by PeftModel.forward for the duration of one call (null after). Absent: the layer cannot
   * run mixed batches (see mixed_batch.ts).
   */
  setMixedBatch?(names: readonly string[] | null): void;
  /**
   * Set once merging replaced a low-precision base (QuantizedLinear) by a float32 one: the compute dtype
   * it had, so that mergeAndUnload stores the merged layer in bf16 again multiplying as before.
   */
  readonly dequantizedBaseCompute?: 'float32' | 'bfloat16' | null;
}

export function isAdapterLayer(m: Module): m is AdapterLayer {
  return (m as unknown as { isAdapterLayer?: boolean }).isAdapterLayer === true;
}

export interface Tuner<C extends PeftConfig = PeftConfig> {
  readonly peftType: PeftType;
  /**
   * Path segments after which an adapter's name appears in its parameters' paths (`lora_A` in
   * `q_proj.lora_A.default.weight`); the generic save drops the name (`q_proj.lora_A.weight`).
   */
  readonly adapterPrefixes: readonly string[];
  /** Adds adapter `name` to peft.model (base parameters are already frozen). */
  inject(peft: PeftModel, config: C, name: string): void;
  /** Prompt learning: runs the model with the adapter. Absent: the model's own forward. */
  forward?(peft: PeftModel, inputs: unknown, name: string): unknown;
  /** The tensors saved for the adapter, keyed relative to the base model; absent: the generic prefix rule. */
  stateDict?(peft: PeftModel, name: string): Map<string, AdapterTensor>;
  /**
   * Loads saved tensors; absent: the generic prefix rule with strict key checks. `tensors` holds every
   * entry as float32; `raw` also holds the integer-dtype entries exactly (float32 rounds above 2^24);
   * `file` is for error messages.
   */
  loadStateDict?(peft: PeftModel, name: string, tensors: Map<string, Tensor>, file: string, raw: Map<string, RawTensor>): void;
  /**
   * When true, stateDict's and loadStateDict's keys are the file's keys as they stand (no
   * `base_model.model.` added or taken off): prompt learning saves `prompt_embeddings` and, its base model
   * being HF's PeftModel.base_model itself, `base_model.<path>` for modules_to_save.
   */
  readonly fileKeys?: boolean;
  /** Parameters the adapter holds outside the base model (prompt encoders), with their paths in the PeftModel. */
  extraParameters?(peft: PeftModel, name: string): [string, Tensor][];
  /** Removes an adapter that is not an AdapterLayer's (prompt encoders); layers are handled generically. */
  deleteAdapter?(peft: PeftModel, name: string): void;
  /** false for methods with nothing to fold into the base weights (prompt learning): merge() refuses them. */
  readonly mergeable?: boolean;
  /** unload(): removes what the tuner added outside AdapterLayers (Compacter's shared rules). */
  unload?(peft: PeftModel): void;
  /** Selection methods: the base parameters (by path) this adapter trains and saves. */
  trainedBaseParameters?(peft: PeftModel, config: C): string[];
  /**
   * Selection methods train base parameters in place, so disableAdapter() cannot just bypass a layer:
   * this hook (called by PeftModel when adapters are disabled or enabled again) swaps the original values in.
   */
  setDisabled?(peft: PeftModel, disabled: boolean): void;
  /**
   * Runs after the model's own forward (not prompt learning's `forward`) on its output, which it may change
   * in place: HF's AdaLoraModel.forward adds AdaLoRA's orthogonal regulariser to the loss.
   */
  afterForward?(peft: PeftModel, output: unknown): void;
  /**
   * AdaLoRA's step after each optimizer step (HF's update_and_allocate), bound to the model; null when it
   * has nothing to allocate (no trainable adapter). See PeftModel.updateAndAllocate.
   */
  rankAllocation?(peft: PeftModel): ((globalStep: number) => void) | null;
  /** HF's add_weighted_adapter: a new adapter combined from existing ones (LoRA). */
  addWeightedAdapter?(peft: PeftModel, adapters: string[], weights: number[], name: string, combinationType: string, opts: WeightedAdapterOptions): void;
}

export interface WeightedAdapterOptions {
  /** 'svd': the new rank (default: the largest of the adapters'). */
  svdRank?: number | null;
  /** 'svd': clamp both factors to this quantile of their values. */
  svdClamp?: number | null;
}

const tuners = new Map<PeftType, Tuner>();

export function registerTuner(t: Tuner): void {
  tuners.set(t.peftType, t);
}

export function tunerFor(type: PeftType, op: string): Tuner {
  const t = tuners.get(type);
  if (!t) throw new Error(`${op}: no tuner for peft_type '${type}' is registered`);
  return t;
}
