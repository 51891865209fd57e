/**
 * The model families peftjs builds, by config.json's model_type, as transformers' auto classes map them
 * (MODEL_FOR_CAUSAL_LM_MAPPING_NAMES, MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES): the config class
 * and the class for each task the family has.
 */
import { FileFormatError } from '../../../io/errors';
import type { ModelConfig } from '../config_base';
import { BertConfig } from '../bert/config';
import { BertForSequenceClassification } from '../bert/model';
import { GemmaConfig } from '../gemma/config';
import { GemmaForCausalLM, GemmaForSequenceClassification } from '../gemma/model';
import { Gemma2Config } from '../gemma2/config';
import { Gemma2ForCausalLM, Gemma2ForSequenceClassification } from '../gemma2/model';
import { GPT2Config } from '../gpt2/config';
import { GPT2LMHeadModel } from '../gpt2/model';
import { LlamaConfig } from '../llama/config';
import { LlamaForCausalLM } from '../llama/model';
import { MistralConfig } from '../mistral/config';
import { MistralForCausalLM, MistralForSequenceClassification } from '../mistral/model';
import { Phi3Config } from '../phi3/config';
import { Phi3ForCausalLM, Phi3ForSequenceClassification } from '../phi3/model';
import { Qwen2Config } from '../qwen2/config';
import { Qwen2ForCausalLM, Qwen2ForSequenceClassification } from '../qwen2/model';
import { Qwen3Config } from '../qwen3/config';
import { Qwen3ForCausalLM, Qwen3ForSequenceClassification } from '../qwen3/model';
import { LlamaForSequenceClassification } from '../sequence_classification';

/** A causal language model of any supported family. */
export type CausalLMModel =
  LlamaForCausalLM | Qwen2ForCausalLM | Qwen3ForCausalLM | GemmaForCausalLM | MistralForCausalLM | Gemma2ForCausalLM | Phi3ForCausalLM | GPT2LMHeadModel;
/** A sequence classifier of any supported family. */
export type SequenceClassificationModel =
  LlamaForSequenceClassification | Qwen2ForSequenceClassification | Qwen3ForSequenceClassification | GemmaForSequenceClassification |
  MistralForSequenceClassification | Gemma2ForSequenceClassification | Phi3ForSequenceClassification | BertForSequenceClassification;
/** Any model a folder can hold. */
export type AnyPretrainedModel = CausalLMModel | SequenceClassificationModel;

export type ModelTask = 'causal-lm' | 'sequence-classification';

export interface ModelFamily {
  configFromDict(dict: Record<string, unknown>, file?: string): ModelConfig;
  /** HF's class names, by task (absent: peftjs has no such head for the family). */
  classes: Partial<Record<ModelTask, string>>;
  build: Partial<Record<ModelTask, (config: never) => AnyPretrainedModel>>;
}

function family<C extends ModelConfig>(fromDict: (d: Record<string, unknown>, f?: string) => C, causal: [string, (c: C) => CausalLMModel] | null,
  classifier: [string, (c: C) => SequenceClassificationModel] | null): ModelFamily {
  return {
    configFromDict: fromDict,
    classes: { ...(causal ? { 'causal-lm': causal[0] } : {}), ...(classifier ? { 'sequence-classification': classifier[0] } : {}) },
    build: { ...(causal ? { 'causal-lm': causal[1] as (c: never) => AnyPretrainedModel } : {}),
      ...(classifier ? { 'sequence-classification': classifier[1] as (c: never) => AnyPretrainedModel } : {}) },
  };
}

export const MODEL_FAMILIES: Readonly<Record<string, ModelFamily>> = Object.freeze({
  llama: family((d, f) => LlamaConfig.fromDict(d, f), ['LlamaForCausalLM', (c) => new LlamaForCausalLM(c)],
    ['LlamaForSequenceClassification', (c) => new LlamaForSequenceClassification(c)]),
  gpt2: family((d, f) => GPT2Config.fromDict(d, f), ['GPT2LMHeadModel', (c) => new GPT2LMHeadModel(c)], null),
  bert: family((d, f) => BertConfig.fromDict(d, f), null, ['BertForSequenceClassification', (c) => new BertForSequenceClassification(c)]),
  qwen2: family((d, f) => Qwen2Config.fromDict(d, f), ['Qwen2ForCausalLM', (c) => new Qwen2ForCausalLM(c)],
    ['Qwen2ForSequenceClassification', (c) => new Qwen2ForSequenceClassification(c)]),
  qwen3: family((d, f) => Qwen3Config.fromDict(d, f), ['Qwen3ForCausalLM', (c) => new Qwen3ForCausalLM(c)],
    ['Qwen3ForSequenceClassification', (c) => new Qwen3ForSequenceClassification(c)]),
  gemma: family((d, f) => GemmaConfig.fromDict(d, f), ['GemmaForCausalLM', (c) => new GemmaForCausalLM(c)],
    ['GemmaForSequenceClassification', (c) => new GemmaForSequenceClassification(c)]),
  mistral: family((d, f) => MistralConfig.fromDict(d, f), ['MistralForCausalLM', (c) => new MistralForCausalLM(c)],
    ['MistralForSequenceClassification', (c) => new MistralForSequenceClassification(c)]),
  gemma2: family((d, f) => Gemma2Config.fromDict(d, f), ['Gemma2ForCausalLM', (c) => new Gemma2ForCausalLM(c)],
    ['Gemma2ForSequenceClassification', (c) => new Gemma2ForSequenceClassification(c)]),
  phi3: family((d, f) => Phi3Config.fromDict(d, f), ['Phi3ForCausalLM', (c) => new Phi3ForCausalLM(c)],
    ['Phi3ForSequenceClassification', (c) => new Phi3ForSequenceClassification(c)]),
});

/** The model_types peftjs builds. */
export const SUPPORTED_MODEL_TYPES: readonly string[] = Object.freeze(Object.keys(MODEL_FAMILIES));

/** The supported model_types that have a model for the task. */
export function modelTypesFor(task: ModelTask): string[] {
  return SUPPORTED_MODEL_TYPES.filter((t) => MODEL_FAMILIES[t].build[task] !== undefined);
}

/** The family of a config.json object, or a FileFormatError naming the model_type and the supported ones. */
export function familyOf(dict: Record<string, unknown>, file = 'config.json'): [string, ModelFamily] {
  const type = dict.model_type;
  if (typeof type !== 'string' || !Object.prototype.hasOwnProperty.call(MODEL_FAMILIES, type)) {
    const what = type === undefined ? 'has no model_type' : `model_type ${JSON.stringify(type)} is not supported`;
    throw new FileFormatError('config.json', file, `${what} (supported: ${SUPPORTED_MODEL_TYPES.join(', ')})`);
  }
  return [type, MODEL_FAMILIES[type]];
}

/**
 * The task config.json's architectures name (a *ForSequenceClassification class: classification), else the
 * family's causal LM, else its classifier.
 */
export function taskOfConfig(dict: Record<string, unknown>, fam: ModelFamily): ModelTask {
  const archs = Array.isArray(dict.architectures) ? dict.architectures : [];
  if (fam.classes['sequence-classification'] && archs.includes(fam.classes['sequence-classification'])) return 'sequence-classification';
  return fam.build['causal-lm'] ? 'causal-lm' : 'sequence-classification';
}

/** The model for a config.json object: the task's class (default: as taskOfConfig reads it), untrained. */
export function modelForConfig(dict: Record<string, unknown>, file = 'config.json', task?: ModelTask): AnyPretrainedModel {
  const [type, fam] = familyOf(dict, file);
  const t = task ?? taskOfConfig(dict, fam);
  const build = fam.build[t];
  if (!build)
    throw new FileFormatError('config.json', file, `model_type '${type}' has no ${t} model in peftjs (model_types with one: ${modelTypesFor(t).join(', ')})`);
  const config = fam.configFromDict(dict, file);
  return build(config as never);
}
