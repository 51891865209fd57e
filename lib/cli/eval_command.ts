/**
 * peftjs eval: a model (optionally with an adapter folder) on a labelled data file; the metrics as JSON on
 * stdout (classification: eval_loss, eval_accuracy, eval_f1; causal LM: eval_loss, eval_perplexity).
 */
import { PeftModel } from '../peft/peft_model';
import '../peft/save_load';
import type { Module } from '../nn/module';
import { evaluate } from '../train/evaluate';
import { numLabelsOf } from '../train/model_kind';
import { CliError, numberFlag, parseFlags, stringFlag } from './args';
import { contextOf, loadForTask, readData, readLabels, taskFlag } from './task_model';
import { HUB_FLAGS, HUB_FLAGS_HELP, hubFlags, STORAGE_FLAGS, storageFlag } from './model_files';
import * as fs from 'fs';

export const EVAL_HELP = `usage: peftjs eval --model PATH [--adapter DIR] --data FILE [--task classification|causal-lm|sft]
                   [--text-column NAME] [--label-column NAME] [--messages-column NAME] [--tokenizer PATH] [--max-length N] [--batch-size N]
                   [--revision REV] [--token TOKEN]
  Prints the metrics as JSON: {"eval_loss", "eval_accuracy", "eval_f1"} for classification,
  {"eval_loss", "eval_perplexity"} for a causal LM (sft: over the assistant's tokens only). An adapter written by peftjs train brings its labels.
  ${HUB_FLAGS_HELP}
examples:
  peftjs eval --model ~/.cache/peftjs/compare-base-<hash> --adapter my-lora --data test.jsonl
  peftjs eval --model ../shared/models/stories260K/stories260K.bin --task causal-lm --data story.txt`;

export function evalCommand(argv: string[]): Record<string, number> {
  const flags = parseFlags('eval', argv, { values: ['model', 'adapter', 'data', 'task', 'text-column', 'label-column', 'messages-column', 'tokenizer', 'max-length', 'batch-size', ...STORAGE_FLAGS, ...HUB_FLAGS], required: ['model', 'data'] });
  const task = taskFlag('eval', flags);
  const adapter = stringFlag(flags, 'adapter');
  if (adapter !== undefined && !fs.existsSync(adapter)) throw new CliError(`peftjs eval: --adapter ${adapter} does not exist`);
  const labels = readLabels(adapter ?? stringFlag(flags, 'model'));
  const { model, tokenizer } = loadForTask('eval', stringFlag(flags, 'model')!, stringFlag(flags, 'tokenizer'), task, labels, storageFlag('eval', flags), hubFlags('eval', flags));
  const maxLength = flags.has('max-length') ? numberFlag('eval', flags, 'max-length', 0, (v) => Number.isInteger(v) && v > 0, 'a positive integer') : contextOf(model);
  const data = readData('eval', 'data', stringFlag(flags, 'data')!, task, tokenizer, flags, maxLength, labels ?? undefined);
  const runner: Module = adapter ? PeftModel.fromPretrained(model as Module, adapter) : (model as Module);
  const metrics = evaluate(runner, data.examples, {
    task: task === 'classification' ? 'seq_cls' : 'causal_lm', padId: tokenizer.padId ?? tokenizer.eosId ?? 0,
    batchSize: numberFlag('eval', flags, 'batch-size', 16, (v) => Number.isInteger(v) && v > 0, 'a positive integer'), numLabels: numLabelsOf(runner),
  });
  runner.dispose();
  return { ...metrics, examples: data.examples.length };
}
