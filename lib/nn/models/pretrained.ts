/**
 * Loading a model from disk: a llama2.c checkpoint (.bin) or a Hugging Face model folder (config.json +
 * safetensors), by its model_type (the families in ./auto/registry.ts: llama, gpt2, bert, qwen2, qwen3, gemma).
 */
import * as fs from 'fs';
import * as path from 'path';
import { dequantizeQ8, forEachLlama2cWeight, type Llama2cConfig, loadLlama2c, readLlama2cConfig } from '../../io/llama2c';
import { FileFormatError } from '../../io/errors';
import { HfModelFolderReader, loadHfModelFolder } from '../../io/hf_folder';
import { type HubOptions, resolveModelPath } from '../../io/hub';
import { QuantizedLinear } from '../../quant/quantized_linear';
import { QuantizedTensor } from '../../quant/quantized_tensor';
import { layerWithWeight, type ModelQuantization, quantizationTargets, quantizedLayer, releaseFreedMemory } from '../../quant/quantize_model';
import { fromArray, randn } from '../../tensor/creation';
import { scale } from '../../tensor/ops';
import { noGrad } from '../../tensor/autograd';
import type { Tensor } from '../../tensor/tensor';
import { withoutInit } from '../init';
import { Linear } from '../layers/linear';
import { copyInto, type Module } from '../module';
import { type AnyPretrainedModel, type CausalLMModel, modelForConfig, type ModelTask } from './auto/registry';
import { GPT2LMHeadModel } from './gpt2/model';
import { LlamaConfig } from './llama/config';
import { LlamaForCausalLM } from './llama/model';

export type PretrainedModel = AnyPretrainedModel;

/** The LlamaConfig of a llama2.c header (interleaved RoPE). */
function llamaConfigOf(c: Llama2cConfig): LlamaConfig {
  return new LlamaConfig({
    vocabSize: c.vocabSize, hiddenSize: c.dim, intermediateSize: c.hiddenDim, numHiddenLayers: c.nLayers,
    numAttentionHeads: c.nHeads, numKeyValueHeads: c.nKvHeads, maxPositionEmbeddings: c.seqLen, rmsNormEps: c.rmsNormEps,
    ropeTheta: c.ropeTheta, tieWordEmbeddings: c.sharedClassifier, ropeInterleaved: c.ropeInterleaved,
  });
}

/** A llama2.c checkpoint as a LlamaForCausalLM (interleaved RoPE, its weights unpermuted). */
export function loadLlama2cModel(file: string): LlamaForCausalLM {
  const ckpt = loadLlama2c(file);
  const model = new LlamaForCausalLM(llamaConfigOf(ckpt.config));
  try {
    model.loadStateDict(ckpt.weights);
  } finally {
    for (const t of new Set(Object.values(ckpt.weights))) t.dispose();
  }
  return model;
}

/** Puts a quantized layer where a linear one was, freeing the linear one's (never written) weight. */
function replaceLayer(model: Module, [path, layer]: readonly [string, Module & { weight: Tensor }], quantized: QuantizedLinear): void {
  model.setSubmodule(path, quantized);
  layer.weight.dispose();
}

/**
 * A llama2.c checkpoint with its linear layers quantized while reading, one weight at a time. A version-2
 * (int8) file loaded as int8 keeps its own codes and group scales (no float32 detour); other storages
 * quantize each weight from its float32 values, which exist for that one weight only.
 */
function loadLlama2cQuantized(file: string, q: ModelQuantization): LlamaForCausalLM {
  const c = readLlama2cConfig(file);
  const model = withoutInit(() => new LlamaForCausalLM(llamaConfigOf(c)));
  const own = model.stateDict();
  const targets = new Map(quantizationTargets(model, q).map(([p, layer]) => [`${p}.weight`, [p, layer] as const]));
  noGrad(() => forEachLlama2cWeight(file, (name, shape, data) => {
    const target = targets.get(name);
    if (target && data.kind === 'q8' && q.format === 'int8') {
      replaceLayer(model, target, new QuantizedLinear(QuantizedTensor.fromInt8Scales(data.q, data.scales, [shape[0], shape[1]], data.groupSize), null, q.computeDtype));
      return;
    }
    const values = data.kind === 'f32' ? data.values : dequantizeQ8(data);
    const t = fromArray(values, shape);
    if (target) replaceLayer(model, target, quantizedLayer(target[1], t, q));
    else copyInto(own.get(name)!, t);
    t.dispose();
  }));
  if (c.sharedClassifier && model.lm_head.weight !== model.model.embed_tokens.weight) copyInto(model.lm_head.weight, model.model.embed_tokens.weight);
  releaseFreedMemory();
  return model;
}

/** The model class for a config.json object. */
export function modelFromConfig(dict: Record<string, unknown>, file = 'config.json', task?: ModelTask): PretrainedModel {
  return modelForConfig(dict, file, task);
}

/** loadPretrained also takes a Hub id ('org/name'): the HubOptions say which revision, cache and token. */
export interface LoadOptions extends HubOptions {
  /**
   * Store the linear layers so (lib/quant; HF's quantization_config / torch_dtype for a frozen base). An HF
   * folder is then read one tensor at a time and each linear weight quantized as it is read, so the float32
   * model never exists: the peak stays near the quantized size plus the largest tensor.
   */
  quantization?: ModelQuantization | null;
  /**
   * The head to build (the auto classes set it): 'causal-lm' or 'sequence-classification'. Unset: the one
   * config.json's architectures name. A classifier built from a causal LM's folder gets a new `score` head
   * (initialised, as HF's from_pretrained does, with a note on stderr) and leaves lm_head unread.
   */
  task?: ModelTask;
  /** Overrides of config.json keys (snake_case, e.g. id2label) applied before the model is built. */
  configOverrides?: Record<string, unknown>;
}

/** Weights a new head may lack in the file (initialised instead), and file weights it leaves unread. */
interface HeadAllowance {
  fresh: Set<string>;
  unread: (key: string) => boolean;
}

const NO_ALLOWANCE: HeadAllowance = { fresh: new Set(), unread: () => false };

/** For a classifier built from a causal LM's folder: its score head is new and lm_head.* is not read. */
function headAllowance(model: Module, task: ModelTask | undefined): HeadAllowance {
  if (task !== 'sequence-classification') return NO_ALLOWANCE;
  const fresh = new Set(model.namedParameters().map(([k]) => k).filter((k) => k.startsWith('score.')));
  return { fresh, unread: (k) => k.startsWith('lm_head.') };
}

/** HF's _init_weights for a new head's weight: normal(0, initializer_range) (0.02 without one). */
function initFresh(model: Module, key: string): void {
  const p = model.stateDict().get(key)!;
  const std = (model as unknown as { config?: { initializerRange?: number } }).config?.initializerRange ?? 0.02;
  noGrad(() => {
    const r = randn(p.shape);
    const t = scale(r, std);
    copyInto(p, t);
    r.dispose();
    t.dispose();
  });
}

function configOf(dir: string, raw: Record<string, unknown>, opts: LoadOptions): Record<string, unknown> {
  return opts.configOverrides ? { ...raw, ...opts.configOverrides } : raw;
}

/** An HF model folder: config.json and model.safetensors (or shards listed by model.safetensors.index.json). */
export function loadHfModel(dir: string, opts: LoadOptions = {}): PretrainedModel {
  if (opts.quantization) return loadHfModelQuantized(dir, opts.quantization, opts);
  const folder = loadHfModelFolder(dir);
  try {
    const model = modelFromConfig(configOf(dir, folder.config, opts), path.join(dir, 'config.json'), opts.task);
    loadWeights(model, folder.tensors, dir, headAllowance(model, opts.task));
    return model;
  } finally {
    for (const t of folder.tensors.values()) t.dispose();
  }
}

/** Checks a file's weight names against the model's; a tied head may be absent from the file, as HF saves it. */
function checkWeightNames(own: Map<string, Tensor>, has: (key: string) => boolean, keys: string[], dir: string, allow: HeadAllowance = NO_ALLOWANCE): void {
  const tied = new Set<string>();
  const first = new Map<Tensor, string>();
  for (const [key, t] of own) {
    if (first.has(t)) tied.add(key);
    else first.set(t, key);
  }
  const missing = [...own.keys()].filter((k) => !has(k) && !(tied.has(k) && has(first.get(own.get(k)!)!)) && !allow.fresh.has(k));
  const unexpected = keys.filter((k) => !own.has(k) && !allow.unread(k));
  const fresh = [...allow.fresh].filter((k) => !has(k));
  if (missing.length === 0 && unexpected.length === 0 && fresh.length > 0)
    process.stderr.write(`loading ${dir}: ${fresh.join(', ')} newly initialized (not in the folder); train the head before using its predictions\n`);
  if (missing.length > 0 || unexpected.length > 0)
    throw new Error(`loading ${dir}: ${missing.length} missing weights (${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', ...' : ''}), ${unexpected.length} unexpected (${unexpected.slice(0, 5).join(', ')}${unexpected.length > 5 ? ', ...' : ''})`);
}

/** Copies checkpoint tensors into a model. */
function loadWeights(model: Module, weights: Map<string, Tensor>, dir: string, allow: HeadAllowance = NO_ALLOWANCE): void {
  const own = model.stateDict();
  checkWeightNames(own, (k) => weights.has(k), [...weights.keys()], dir, allow);
  const present = new Map([...weights].filter(([k]) => own.has(k)));
  try {
    model.loadStateDict(present, { strict: false });
  } catch (e) {
    // loadStateDict names the tensor and both shapes; the folder says which files hold it.
    if (e instanceof RangeError) throw new RangeError(`loading ${dir}: ${e.message}`);
    throw e;
  }
}

/**
 * An HF folder with its linear layers quantized while reading: the model is built without initial values
 * (its float32 linear weights are never written, so never paged in), then each tensor is read, quantized
 * into its layer's QuantizedLinear or copied into its parameter, and freed before the next.
 */
function loadHfModelQuantized(dir: string, q: ModelQuantization, opts: LoadOptions): PretrainedModel {
  const reader = HfModelFolderReader.open(dir);
  try {
    const model = withoutInit(() => modelFromConfig(configOf(dir, reader.config, opts), path.join(dir, 'config.json'), opts.task));
    const own = model.stateDict();
    const allow = headAllowance(model, opts.task);
    checkWeightNames(own, (k) => reader.has(k), reader.keys(), dir, allow);
    // A new head was built without initial values: give it HF's normal(0, initializer_range) now.
    for (const k of allow.fresh) if (!reader.has(k)) initFresh(model, k);
    const targets = new Map(quantizationTargets(model, q).map(([p, layer]) => [`${p}.weight`, [p, layer] as const]));
    noGrad(() => {
      for (const key of reader.keys()) {
        if (!own.has(key)) continue;  // a file weight the task's model does not have (allowed above)
        const target = targets.get(key);
        // A bf16 file weight stored as bf16 keeps its bits: no float32 detour, no second rounding.
        if (target && q.format === 'bfloat16' && reader.info(key).dtype === 'BF16' && target[1] instanceof Linear) {
          const raw = reader.loadRaw(key).data as Uint16Array;
          const bits = new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength);
          replaceLayer(model, target, layerWithWeight(target[1], QuantizedTensor.fromBf16Bits(bits, [target[1].outFeatures, target[1].inFeatures]), q));
          continue;
        }
        const t = reader.load(key);
        if (target) replaceLayer(model, target, quantizedLayer(target[1], t, q));
        else copyInto(own.get(key)!, t);
        t.dispose();
      }
    });
    releaseFreedMemory();
    return model;
  } finally {
    reader.close();
  }
}

/** A llama2.c .bin file, an HF model folder or a Hub id (see LoadOptions). */
export function loadPretrained(idOrPath: string, opts: LoadOptions = {}): PretrainedModel {
  const modelPath = resolveModelPath(idOrPath, { ...opts, files: 'model' });
  let stat: fs.Stats;
  try {
    stat = fs.statSync(modelPath);
  } catch {
    throw new Error(`loadPretrained: '${modelPath}' does not exist (expected a llama2.c .bin file or a Hugging Face model folder)`);
  }
  if (stat.isDirectory()) return loadHfModel(modelPath, opts);
  return opts.quantization ? loadLlama2cQuantized(modelPath, opts.quantization) : loadLlama2cModel(modelPath);
}

/** Whether a loaded model predicts next tokens (and so can generate and score text). */
export function isCausalLM(m: PretrainedModel): m is CausalLMModel {
  return m instanceof LlamaForCausalLM || m instanceof GPT2LMHeadModel;
}
