/**
 * Loading a model from disk: a llama2.c checkpoint (.bin) or a Hugging Face model folder (config.json +
 * safetensors), by its model_type (llama, gpt2, bert).
 */
import * as fs from 'fs';
import * as path from 'path';
import { loadLlama2c } from '../../io/llama2c';
import { FileFormatError } from '../../io/errors';
import { loadHfModelFolder } from '../../io/hf_folder';
import type { Tensor } from '../../tensor/tensor';
import type { Module } from '../module';
import { BertConfig } from './bert/config';
import { BertForSequenceClassification } from './bert/model';
import { GPT2Config } from './gpt2/config';
import { GPT2LMHeadModel } from './gpt2/model';
import { LlamaConfig } from './llama/config';
import { LlamaForCausalLM } from './llama/model';
import { LlamaForSequenceClassification } from './sequence_classification';

export type PretrainedModel = LlamaForCausalLM | LlamaForSequenceClassification | GPT2LMHeadModel | BertForSequenceClassification;

/** A llama2.c checkpoint as a LlamaForCausalLM (interleaved RoPE, its weights unpermuted). */
export function loadLlama2cModel(file: string): LlamaForCausalLM {
  const ckpt = loadLlama2c(file);
  const c = ckpt.config;
  const config = new LlamaConfig({
    vocabSize: c.vocabSize, hiddenSize: c.dim, intermediateSize: c.hiddenDim, numHiddenLayers: c.nLayers,
    numAttentionHeads: c.nHeads, numKeyValueHeads: c.nKvHeads, maxPositionEmbeddings: c.seqLen, rmsNormEps: c.rmsNormEps,
    ropeTheta: c.ropeTheta, tieWordEmbeddings: c.sharedClassifier, ropeInterleaved: c.ropeInterleaved,
  });
  const model = new LlamaForCausalLM(config);
  try {
    model.loadStateDict(ckpt.weights);
  } finally {
    for (const t of new Set(Object.values(ckpt.weights))) t.dispose();
  }
  return model;
}

/** The model class for a config.json object. */
export function modelFromConfig(dict: Record<string, unknown>, file = 'config.json'): PretrainedModel {
  const type = dict.model_type;
  if (type === 'llama') {
    const config = LlamaConfig.fromDict(dict, file);
    const classifier = Array.isArray(dict.architectures) && dict.architectures.includes('LlamaForSequenceClassification');
    return classifier ? new LlamaForSequenceClassification(config) : new LlamaForCausalLM(config);
  }
  if (type === 'gpt2') return new GPT2LMHeadModel(GPT2Config.fromDict(dict, file));
  if (type === 'bert') return new BertForSequenceClassification(BertConfig.fromDict(dict, file));
  throw new FileFormatError('config.json', file, `model_type ${JSON.stringify(type)} is not supported (expected llama, gpt2 or bert)`);
}

/** An HF model folder: config.json and model.safetensors (or shards listed by model.safetensors.index.json). */
export function loadHfModel(dir: string): PretrainedModel {
  const folder = loadHfModelFolder(dir);
  try {
    const model = modelFromConfig(folder.config, path.join(dir, 'config.json'));
    loadWeights(model, folder.tensors, dir);
    return model;
  } finally {
    for (const t of folder.tensors.values()) t.dispose();
  }
}

/** Copies checkpoint tensors into a model; a tied head may be absent from the file, as HF saves it. */
function loadWeights(model: Module, weights: Map<string, Tensor>, dir: string): void {
  const own = model.stateDict();
  const tied = new Set<string>();
  const first = new Map<Tensor, string>();
  for (const [key, t] of own) {
    if (first.has(t)) tied.add(key);
    else first.set(t, key);
  }
  const missing = [...own.keys()].filter((k) => !weights.has(k) && !(tied.has(k) && weights.has(first.get(own.get(k)!)!)));
  const unexpected = [...weights.keys()].filter((k) => !own.has(k));
  if (missing.length > 0 || unexpected.length > 0)
    throw new Error(`loading ${dir}: ${missing.length} missing weights (${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', ...' : ''}), ${unexpected.length} unexpected (${unexpected.slice(0, 5).join(', ')}${unexpected.length > 5 ? ', ...' : ''})`);
  const present = new Map([...weights].filter(([k]) => own.has(k)));
  model.loadStateDict(present, { strict: false });
}

/** A llama2.c .bin file or an HF model folder. */
export function loadPretrained(modelPath: string): PretrainedModel {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(modelPath);
  } catch {
    throw new Error(`loadPretrained: '${modelPath}' does not exist (expected a llama2.c .bin file or a Hugging Face model folder)`);
  }
  return stat.isDirectory() ? loadHfModel(modelPath) : loadLlama2cModel(modelPath);
}

/** Whether a loaded model predicts next tokens (and so can generate and score text). */
export function isCausalLM(m: PretrainedModel): m is LlamaForCausalLM | GPT2LMHeadModel {
  return m instanceof LlamaForCausalLM || m instanceof GPT2LMHeadModel;
}
