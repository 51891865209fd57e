/**
 * transformers' auto classes: `AutoModelForCausalLM.fromPretrained(folder)` reads config.json's model_type
 * and builds that family's causal LM (LlamaForCausalLM, Qwen2ForCausalLM, ...) with the folder's weights;
 * `AutoModelForSequenceClassification` builds its classifier (a causal LM's folder gives a new `score`
 * head, as in HF). `AutoConfig.fromPretrained` reads the config class alone.
 */
import * as fs from 'fs';
import * as path from 'path';
import { FileFormatError } from '../../../io/errors';
import { CONFIG_FILE, readHfConfig } from '../../../io/hf_folder';
import { type HubOptions, resolveModelPath } from '../../../io/hub';
import type { ModelQuantization } from '../../../quant/quantize_model';
import type { ModelConfig } from '../config_base';
import { loadHfModel } from '../pretrained';
import { type CausalLMModel, familyOf, modelTypesFor, type ModelTask, type SequenceClassificationModel, SUPPORTED_MODEL_TYPES } from './registry';

/** A folder, or a Hub id ('org/name') found in the Hugging Face cache or downloaded into it (see lib/io/hub.ts). */
export interface AutoLoadOptions extends HubOptions {
  /** Store the linear layers so while reading (see LoadOptions.quantization). */
  quantization?: ModelQuantization | null;
}

export interface AutoClassifierOptions extends AutoLoadOptions {
  /** HF's num_labels: LABEL_0 ... LABEL_{n-1} unless id2label is given. */
  numLabels?: number;
  id2label?: Record<string | number, string>;
}

function readConfig(op: string, folder: string): Record<string, unknown> {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(folder);
  } catch {
    throw new Error(`${op}.fromPretrained: '${folder}' does not exist (expected a Hugging Face model folder with config.json)`);
  }
  if (!stat.isDirectory()) throw new Error(`${op}.fromPretrained: '${folder}' is not a folder (expected a Hugging Face model folder with config.json)`);
  return readHfConfig(path.join(folder, CONFIG_FILE));
}

/** Checks that the folder's model_type has a model for the task, before any weight is read. */
function checkTask(op: string, folder: string, dict: Record<string, unknown>, task: ModelTask): void {
  const file = path.join(folder, CONFIG_FILE);
  const [type, fam] = familyOf(dict, file);
  if (!fam.build[task])
    throw new FileFormatError('config.json', file, `${op} has no model for model_type '${type}' (model_types it builds: ${modelTypesFor(task).join(', ')})`);
}

export class AutoConfig {
  /** The config class of a folder's config.json (LlamaConfig, Qwen2Config, ...), by model_type. */
  static fromPretrained(idOrFolder: string, options: HubOptions = {}): ModelConfig {
    const folder = resolveModelPath(idOrFolder, { ...options, files: 'config' });
    const dict = readConfig('AutoConfig', folder);
    const file = path.join(folder, CONFIG_FILE);
    return familyOf(dict, file)[1].configFromDict(dict, file);
  }

  /** The model_types peftjs builds. */
  static get supportedModelTypes(): readonly string[] {
    return SUPPORTED_MODEL_TYPES;
  }
}

export class AutoModelForCausalLM {
  /** The family's causal LM (by config.json's model_type, whatever architectures says) with the folder's weights. */
  static fromPretrained(idOrFolder: string, options: AutoLoadOptions = {}): CausalLMModel {
    const folder = resolveModelPath(idOrFolder, { ...options, files: 'model' });
    const dict = readConfig('AutoModelForCausalLM', folder);
    checkTask('AutoModelForCausalLM', folder, dict, 'causal-lm');
    return loadHfModel(folder, { quantization: options.quantization, task: 'causal-lm' }) as CausalLMModel;
  }

  static get supportedModelTypes(): string[] {
    return modelTypesFor('causal-lm');
  }
}

export class AutoModelForSequenceClassification {
  /**
   * The family's sequence classifier with the folder's weights; from a causal LM's folder the `score` head
   * is new (HF's initialisation) and lm_head is not read.
   */
  static fromPretrained(idOrFolder: string, options: AutoClassifierOptions = {}): SequenceClassificationModel {
    const folder = resolveModelPath(idOrFolder, { ...options, files: 'model' });
    const dict = readConfig('AutoModelForSequenceClassification', folder);
    checkTask('AutoModelForSequenceClassification', folder, dict, 'sequence-classification');
    return loadHfModel(folder, { quantization: options.quantization, task: 'sequence-classification', configOverrides: labelOverrides(options) }) as SequenceClassificationModel;
  }

  static get supportedModelTypes(): string[] {
    return modelTypesFor('sequence-classification');
  }
}

function labelOverrides(o: AutoClassifierOptions): Record<string, unknown> | undefined {
  if (o.id2label !== undefined) {
    const id2label = Object.fromEntries(Object.entries(o.id2label).map(([k, v]) => [String(k), v]));
    if (o.numLabels !== undefined && o.numLabels !== Object.keys(id2label).length)
      throw new RangeError(`AutoModelForSequenceClassification: numLabels ${o.numLabels} disagrees with id2label's ${Object.keys(id2label).length} labels`);
    return { id2label, label2id: Object.fromEntries(Object.entries(id2label).map(([k, v]) => [v, Number(k)])) };
  }
  if (o.numLabels !== undefined) {
    if (!Number.isInteger(o.numLabels) || o.numLabels < 1) throw new RangeError(`AutoModelForSequenceClassification: numLabels must be a positive integer, got ${o.numLabels}`);
    const names = Array.from({ length: o.numLabels }, (_, i) => `LABEL_${i}`);
    return { id2label: Object.fromEntries(names.map((l, i) => [String(i), l])), label2id: Object.fromEntries(names.map((l, i) => [l, i])) };
  }
  return undefined;
}
