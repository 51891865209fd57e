/**
 * What train and eval share: the --task flag, the data files read with the model's tokenizer, and the
 * model for the task (a causal LM folder becomes a classifier, base weights copied and a new `score`
 * head, when the task is classification). A training run writes labels.json into its output folder so
 * that eval can rebuild the same classifier under an adapter.
 */
import * as fs from 'fs';
import * as path from 'path';
import type { Tokenizer } from '../io/tokenizer';
import { LlamaForCausalLM } from '../nn/models/llama/model';
import { isCausalLM, type PretrainedModel } from '../nn/models/pretrained';
import { AutoModelForSequenceClassification } from '../nn/models/auto/auto';
import { manualSeed } from '../tensor/creation';
import { LlamaForSequenceClassification } from '../nn/models/sequence_classification';
import { BertForSequenceClassification } from '../nn/models/bert/model';
import { loadCausalLMDataset, loadClassificationDataset, type Dataset } from '../train/data/dataset';
import { loadSftDataset } from '../train/sft';
import type { HubOptions } from '../io/hub';
import { CliError, stringFlag } from './args';
import { classifierFromBase } from './compare/base_model';
import { loadModelFlag, loadTokenizerFlag, modelFolderFlag, storeWeights, vocabSizeOf } from './model_files';
import type { ModelQuantization } from '../quant/quantize_model';

/** sft: chat / instruction data (lib/train/sft.ts), a causal LM whose loss is on the assistant's tokens only. */
export type CliTask = 'causal-lm' | 'classification' | 'sft';
export const LABELS_FILE = 'labels.json';

export function taskFlag(command: string, flags: Map<string, string | true>): CliTask {
  const t = stringFlag(flags, 'task') ?? 'classification';
  if (t !== 'causal-lm' && t !== 'classification' && t !== 'sft') throw new CliError(`peftjs ${command}: --task must be causal-lm, classification or sft, got '${t}'`);
  return t;
}

export function readData(command: string, flag: string, file: string, task: CliTask, tokenizer: Tokenizer, flags: Map<string, string | true>,
                         maxLength: number, labelNames?: string[]): Dataset {
  if (!fs.existsSync(file)) throw new CliError(`peftjs ${command}: --${flag} ${file} does not exist`);
  const textField = stringFlag(flags, 'text-column');
  try {
    if (task === 'sft') {
      const d = loadSftDataset(file, tokenizer, { maxLength, messagesField: stringFlag(flags, 'messages-column') });
      if (d.examples.length === 0) throw new Error(`no example has an assistant token within --max-length ${maxLength}`);
      if (d.truncatedAway > 0) process.stderr.write(`peftjs ${command}: ${d.truncatedAway} examples left out: truncated to ${maxLength} tokens, they keep no assistant token\n`);
      return d;
    }
    return task === 'classification'
      ? loadClassificationDataset(file, tokenizer, { maxLength, textField, labelField: stringFlag(flags, 'label-column'), labelNames })
      : loadCausalLMDataset(file, tokenizer, { maxLength, textField });
  } catch (e) {
    throw new CliError(`peftjs ${command}: --${flag} ${file}: ${(e as Error).message}`);
  }
}

export function contextOf(model: PretrainedModel): number {
  return 'maxPositionEmbeddings' in model.config ? model.config.maxPositionEmbeddings : model.config.nPositions;
}

/**
 * The model and tokenizer at --model (a Hub id at --revision, fetched with --token: `hub`); for classification
 * with label names, a classifier over them.
 */
export function loadForTask(command: string, modelPath: string, tokenizerPath: string | undefined, task: CliTask, labelNames: string[] | null,
  storage: ModelQuantization | null = null, hub: HubOptions = {}): { model: PretrainedModel; tokenizer: Tokenizer } {
  modelPath = modelFolderFlag(command, modelPath, hub);  // a Hub id: the cached (or downloaded) snapshot folder
  const loaded = loadModelFlag(command, modelPath, storage);
  const tokenizer = loadTokenizerFlag(command, modelPath, tokenizerPath, vocabSizeOf(loaded), hub);
  if (task === 'causal-lm' || task === 'sft') {
    if (!isCausalLM(loaded))
      throw new CliError(`peftjs ${command}: --task ${task} needs a causal LM, but ${modelPath} holds a ${loaded.constructor.name}`);
    return { model: loaded, tokenizer };
  }
  if (loaded instanceof LlamaForSequenceClassification || loaded instanceof BertForSequenceClassification) return { model: loaded, tokenizer };
  const isFolder = fs.statSync(modelPath).isDirectory();
  if (loaded instanceof LlamaForCausalLM && isFolder && loaded.config.modelType === 'llama') {
    loaded.dispose();
    const classifier = classifierFromBase(modelPath, labelNames ?? ['LABEL_0', 'LABEL_1'], 42);
    storeWeights(command, classifier, storage);
    return { model: classifier, tokenizer };
  }
  if (loaded instanceof LlamaForCausalLM && isFolder) {
    // Qwen2, Qwen3, Gemma: HF's classifier of the family (last-token pooling), a new score head seeded as above.
    loaded.dispose();
    manualSeed(42);
    const labels = labelNames ?? ['LABEL_0', 'LABEL_1'];
    const classifier = AutoModelForSequenceClassification.fromPretrained(modelPath, { id2label: Object.fromEntries(labels.map((l, i) => [i, l])), quantization: storage });
    return { model: classifier, tokenizer };
  }
  throw new CliError(`peftjs ${command}: --task classification needs a Llama, Qwen2, Qwen3 or Gemma HF folder or a classifier, but ${modelPath} holds a ${loaded.constructor.name}`);
}

export function writeLabels(dir: string, task: CliTask, labelNames: string[] | null | undefined): void {
  fs.writeFileSync(path.join(dir, LABELS_FILE), JSON.stringify({ task, labels: labelNames ?? null }, null, 2) + '\n');
}

export function readLabels(dir: string | undefined): string[] | null {
  if (!dir) return null;
  const f = path.join(dir, LABELS_FILE);
  if (!fs.existsSync(f)) return null;
  return (JSON.parse(fs.readFileSync(f, 'utf8')) as { labels: string[] | null }).labels;
}
