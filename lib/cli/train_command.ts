/**
 * peftjs train: fine-tunes a model with one method (full fine-tuning or a PEFT config built from the
 * method options) on a JSONL/CSV/text file, and writes the adapter (or the whole model), labels.json,
 * the tokenizer description, checkpoints, log.jsonl and log.svg into --out.
 */
import * as fs from 'fs';
import * as path from 'path';
import { ByteTokenizer, BYTE_TOKENIZER_FILE } from '../io/byte_tokenizer';
import { saveModelFolder } from '../nn/models/save_pretrained';
import { getPeftModel, PeftModel } from '../peft/peft_model';
import '../peft/save_load';
import type { Module } from '../nn/module';
import { latestCheckpoint } from '../train/checkpoint_folder';
import { isMainProcess } from '../dist';
import { readTrainerState } from '../train/checkpoint';
import { NonFiniteLossError } from '../train/non_finite';
import { Trainer, type TrainResult } from '../train/trainer';
import { CliError, numberFlag, parseFlags, stringFlag } from './args';
import { makeConfig, METHOD_NAMES, methodTable } from './compare/methods';
import { contextOf, loadForTask, readData, taskFlag, writeLabels } from './task_model';
import { HUB_FLAGS, HUB_FLAGS_HELP, hubFlags, STORAGE_FLAGS, storageFlag } from './model_files';

/** Method options: --kebab-case flag -> the config's camelCase field, and how its value parses. */
const METHOD_OPTIONS: Record<string, 'int' | 'number' | 'list' | 'bool' | 'string'> = {
  'r': 'int', 'lora-alpha': 'number', 'lora-dropout': 'number', 'target-modules': 'list', 'modules-to-save': 'list',
  'feedforward-modules': 'list', 'num-virtual-tokens': 'int', 'encoder-hidden-size': 'int', 'reduction-factor': 'number',
  'adapter-type': 'string', 'num-frozen-layers': 'int', 'freeze-embeddings': 'bool', 'target-density': 'number',
};

const camel = (s: string) => s.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

export const TRAIN_HELP = `usage: peftjs train --model PATH --method NAME --data FILE --out DIR [--task classification|causal-lm|sft]
                    [--text-column NAME] [--label-column NAME] [--messages-column NAME] [--tokenizer PATH] [--max-length N]
                    [--epochs N | --max-steps N] [--batch-size N] [--lr LR] [--eval-data FILE] [--eval-steps N]
                    [--save-steps N] [--resume] [--seed S] [--max-grad-norm N] [--skip-nonfinite-steps]
                    [--gradient-checkpointing] [--quantize nf4|int8 | --dtype bfloat16|float16|float32] [--compute-dtype bfloat16]
                    [--revision REV] [--token TOKEN] [--distributed] [method options]
  methods: ${METHOD_NAMES.join(', ')}
  method options (the config's fields): ${Object.keys(METHOD_OPTIONS).map((k) => `--${k}`).join(' ')}
  Classification from a causal Llama folder builds a classifier (base weights, a new score head) whose
  head trains through modules_to_save. Writes the adapter (full: the whole model), labels.json, the
  tokenizer, checkpoint-<step>/ folders (--save-steps), log.jsonl and log.svg into --out; prints the
  result as JSON. --resume continues from the newest checkpoint in --out (firstLoss stays the whole run's,
  resumedFirstLoss is the resumed part's). --max-grad-norm clips the gradients' norm (default 1; 0: off).
  A NaN or infinite loss stops the run; --skip-nonfinite-steps skips such steps (no update) and counts them.
  --gradient-checkpointing recomputes each layer in the backward (activation memory of one layer).
  --task sft: chat fine-tuning on JSONL rows {"messages": [{"role", "content"}, ...]} (or --messages-column),
  rendered with the tokenizer's chat template, or {"prompt", "completion"} (two strings: joined as they are; two
  lists of messages: templated); the loss is on the assistant's (completion's) tokens only, as TRL's SFTTrainer.
  --quantize / --dtype store the frozen linear layers in low precision (adapter methods only); --compute-dtype
  bfloat16 multiplies them in bf16 (float32 sums; vdpbf16ps on an AVX512_BF16 CPU), as torch.autocast does.
  Data-parallel training over MPI (Open MPI: apt-get install openmpi-bin): mpirun -np N [-H hosts] peftjs train ...
  runs N ranks (noticed from mpirun's environment; --distributed asks for MPI even without it). --batch-size is then
  per rank (the global batch is N x it), each rank trains on its own share of every epoch, the gradients are averaged
  once per step; rank 0 alone prints progress and the result and writes --out (which every rank must see for
  --resume). A checkpoint resumes at the same N bit for bit, or at another N (or batch size) from the next whole
  global batch of its epoch (--max-steps keeps its plan). A rank that dies ends the whole job (mpirun's message names it).
  ${HUB_FLAGS_HELP}
examples:
  peftjs train --model ~/.cache/peftjs/compare-base-<hash> --method lora --r 8 --lora-alpha 16 \\
               --target-modules q_proj,v_proj --data train.jsonl --out my-lora --epochs 2
  peftjs train --model ../shared/models/stories260K/stories260K.bin --method prompt-tuning --task causal-lm \\
               --num-virtual-tokens 8 --data story.txt --out my-prompt --max-steps 50 --lr 0.03
  mpirun -np 4 -H node1,node2,node3,node4 npx peftjs train --model DIR --method lora --r 8 --data train.jsonl \
               --out /shared/my-lora --batch-size 4 --max-steps 500 --save-steps 100`;

export function trainCommand(argv: string[]): Record<string, unknown> {
  const values = ['model', 'method', 'data', 'out', 'task', 'text-column', 'label-column', 'messages-column', 'tokenizer', 'max-length', 'epochs', 'max-steps',
    'batch-size', 'lr', 'eval-data', 'eval-steps', 'save-steps', 'seed', 'max-grad-norm', ...STORAGE_FLAGS, ...HUB_FLAGS, ...Object.keys(METHOD_OPTIONS)];
  const flags = parseFlags('train', argv, { values, switches: ['resume', 'skip-nonfinite-steps', 'gradient-checkpointing', 'distributed'], required: ['model', 'method', 'data', 'out'] });
  const task = taskFlag('train', flags);
  const methodName = stringFlag(flags, 'method')!;
  const spec = methodTable(2).find((m) => m.name === methodName);
  if (!spec) throw new CliError(`peftjs train: --method ${methodName} is not a method (known: ${METHOD_NAMES.join(', ')})`);
  // Every flag is checked before anything is loaded or written, so a bad one fails fast and leaves no --out folder
  // behind (the Trainer creates --out when training starts).
  const int = (name: string) => (flags.has(name) ? numberFlag('train', flags, name, 0, (v) => Number.isInteger(v) && v > 0, 'a positive integer') : undefined);
  const plan = {
    batchSize: int('batch-size') ?? 8, epochs: int('epochs'), maxSteps: int('max-steps'), evalSteps: int('eval-steps'), saveSteps: int('save-steps'),
    lr: numberFlag('train', flags, 'lr', spec.lr, (v) => v >= 0, 'a number >= 0'),
    seed: numberFlag('train', flags, 'seed', 42, (v) => Number.isInteger(v) && v >= 0 && v < 2 ** 32, 'an integer in [0, 2^32)'),
    maxGradNorm: numberFlag('train', flags, 'max-grad-norm', 1, (v) => v >= 0, 'a number >= 0'),
    skipNonFiniteSteps: flags.has('skip-nonfinite-steps'),
  };
  // AdaLoRA's budget schedule spans the run: the table's entry for the steps asked (640 when only epochs are given).
  const stepsSpec = plan.maxSteps !== undefined ? methodTable(2, plan.maxSteps).find((m) => m.name === methodName)! : spec;
  const storage = storageFlag('train', flags);
  const hub = hubFlags('train', flags);
  if (storage !== null && spec.configClass === null)
    throw new CliError(`peftjs train: --method ${methodName} trains the weights themselves; a ${storage.format} base is frozen (use an adapter method)`);
  const maxLengthFlag = int('max-length');
  const methodFields = methodOptions(flags, spec.configClass !== null);
  const out = stringFlag(flags, 'out')!;
  const modelPath = stringFlag(flags, 'model')!;
  const dataFile = stringFlag(flags, 'data')!;
  if (!fs.existsSync(dataFile)) throw new CliError(`peftjs train: --data ${dataFile} does not exist`);
  const resumeFrom = flags.has('resume') ? latestCheckpoint(out) : null;
  if (flags.has('resume') && !resumeFrom) throw new CliError(`peftjs train: --resume: no checkpoint-<step> folder in ${out}`);
  const resumeStep = resumeFrom ? readTrainerState(resumeFrom.dir).globalStep : null;

  // Labels first (from the data), since a classifier's head size depends on them.
  const probe = loadForTask('train', modelPath, stringFlag(flags, 'tokenizer'), task === 'classification' ? 'classification' : task, null, storage, hub);
  const maxLength = maxLengthFlag ?? contextOf(probe.model);
  const train = readData('train', 'data', dataFile, task, probe.tokenizer, flags, maxLength);
  const labelNames = train.labelNames ?? null;
  let { model, tokenizer } = probe;
  if (task === 'classification' && labelNames && 'numLabels' in model.config && model.config.numLabels !== labelNames.length) {
    model.dispose();
    ({ model, tokenizer } = loadForTask('train', modelPath, stringFlag(flags, 'tokenizer'), task, labelNames, storage, hub));
  }
  if (flags.has('gradient-checkpointing')) model.gradientCheckpointingEnable();
  const evalFile = stringFlag(flags, 'eval-data');
  const evalData = evalFile ? readData('train', 'eval-data', evalFile, task, tokenizer, flags, maxLength, labelNames ?? undefined).examples : undefined;

  const fields: Record<string, unknown> = { ...stepsSpec.fields };
  if (task !== 'classification') {
    fields.taskType = 'CAUSAL_LM';
    delete fields.modulesToSave;
  } else if (!('score' in model)) fields.modulesToSave = ['classifier'];
  Object.assign(fields, methodFields);
  let config;
  try {
    config = makeConfig({ ...spec, fields });
  } catch (e) {
    throw new CliError(`peftjs train: --method ${methodName}: ${(e as Error).message}`);
  }
  let runner: Module;
  try {
    runner = config ? getPeftModel(model as Module, config) : (model as Module);
  } catch (e) {
    throw new CliError(`peftjs train: --method ${methodName}: ${(e as Error).message}`);
  }
  const trainer = new Trainer(runner, {
    trainDataset: train.examples, evalDataset: evalData, task: task === 'classification' ? 'seq_cls' : 'causal_lm', tokenizer,
    padId: tokenizer.padId ?? tokenizer.eosId ?? 0, ...plan, outputDir: out, resumeFromCheckpoint: resumeFrom?.dir,
    // Unset: on under an MPI launcher of more than one process (lib/train/distributed.ts).
    ...(flags.has('distributed') ? { distributed: true } : {}),
  });
  if (resumeFrom && isMainProcess()) console.error(`peftjs train: resuming from ${path.basename(resumeFrom.dir)} (step ${resumeStep})`);
  let r: TrainResult;
  try {
    r = trainer.train();
  } catch (e) {
    // A non-finite loss is the data's or the settings' fault, not a bug: one line, with the flags to change.
    if (e instanceof NonFiniteLossError)
      throw new CliError(`peftjs train: ${e.headline}. Try a lower --lr, gradient clipping (--max-grad-norm above 0), checking --data for bad values, or --skip-nonfinite-steps to skip such steps`);
    throw e;
  }
  // The same guard as the checkpoints': never write NaN weights over what --out holds (a rerun's adapter).
  const bad = trainer.nonFiniteParameter();
  if (bad !== null) throw new CliError(`peftjs train: not saving the trained weights into ${out}: ${bad} holds NaN or Inf values`);
  // Under mpirun every rank holds the same weights; rank 0 alone writes them.
  if (isMainProcess()) {
    if (runner instanceof PeftModel) runner.savePretrained(out);
    else saveModelFolder(model as never, out);
    if (tokenizer instanceof ByteTokenizer) tokenizer.save(path.join(out, BYTE_TOKENIZER_FILE));
    writeLabels(out, task, labelNames);
  }
  const losses = r.stepLosses;
  const result = {
    out, method: methodName, steps: r.globalStep,
    // firstLoss is the whole run's (a resumed run's from its checkpoint); resumedFirstLoss is where this resumed part began.
    firstLoss: r.firstLoss, lastLoss: losses[losses.length - 1]?.loss ?? null,
    resumedFromStep: resumeStep, resumedFirstLoss: resumeFrom ? losses[0]?.loss ?? null : null,
    skippedNonFiniteSteps: r.skippedNonFiniteSteps, eval: r.lastEval,
  };
  runner.dispose();
  return result;
}

/** The method options given (the config's camelCase fields with their parsed values); none for --method full. */
function methodOptions(flags: Map<string, string | true>, takesOptions: boolean): Record<string, unknown> {
  const fields: Record<string, unknown> = {};
  for (const [flag, kind] of Object.entries(METHOD_OPTIONS)) {
    const raw = stringFlag(flags, flag);
    if (raw === undefined) continue;
    if (!takesOptions) throw new CliError(`peftjs train: --${flag} is a PEFT option; --method full takes none`);
    if (kind === 'list') fields[camel(flag)] = raw === 'all-linear' ? raw : raw.split(',').map((s) => s.trim()).filter(Boolean);
    else if (kind === 'bool') {
      if (raw !== 'true' && raw !== 'false') throw new CliError(`peftjs train: --${flag} must be true or false, got '${raw}'`);
      fields[camel(flag)] = raw === 'true';
    } else if (kind === 'string') fields[camel(flag)] = raw;
    else fields[camel(flag)] = numberFlag('train', flags, flag, 0, kind === 'int' ? (v) => Number.isInteger(v) && v >= 0 : Number.isFinite, kind === 'int' ? 'a non-negative integer' : 'a number');
  }
  return fields;
}
