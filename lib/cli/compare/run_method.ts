/**
 * One method of `peftjs compare`, run in its own process (the hidden `compare-one` verb) so that its peak
 * resident memory (maxRSS) is its own: builds the classifier from the cached base, wraps it with the
 * method's PEFT config, trains on the prepared split, evaluates on test, saves the adapter (or, for full
 * fine-tuning, the whole model) and writes a MethodResult as JSON. Its stdout carries the progress bar's
 * lines to the parent, which shows them (progress_view.ts).
 */
import * as fs from 'fs';
import * as path from 'path';
import type { Module } from '../../nn/module';
import { saveModelFolder } from '../../nn/models/save_pretrained';
import { getPeftModel, PeftModel } from '../../peft/peft_model';
import '../../peft/save_load';
import { finalizeDiffPruning } from '../../peft/tuners/diff_pruning';
import type { TokenizedExample } from '../../train/data/tokenize';
import { evaluate } from '../../train/evaluate';
import type { ProgressStream } from '../../train/progress';
import { Trainer } from '../../train/trainer';
import { classifierFromBase } from './base_model';
import { SPAM_LABELS } from './datasets';
import { headParamGroup, makeConfig, methodTable } from './methods';

/** What the parent hands a child (as a JSON file). */
export interface MethodJob {
  method: string;
  baseDir: string;
  /** Tokenized splits written by the parent (JSON: {train, validation, test}). */
  dataFile: string;
  adapterDir: string;
  resultFile: string;
  steps: number;
  batchSize: number;
  seed: number;
  padId: number;
}

export interface MethodResult {
  method: string;
  peftType: string | null;
  trainableParams: number;
  totalParams: number;
  trainablePercent: number;
  testAccuracy: number;
  testF1: number;
  majorityAccuracy: number;
  validationAccuracy: number;
  /** Mean train loss over the first and the last tenth of the steps. */
  firstTrainLoss: number;
  lastTrainLoss: number;
  steps: number;
  lr: number;
  trainSeconds: number;
  /** process.resourceUsage().maxRSS of the method's own process, in MiB. */
  peakRssMiB: number;
  adapterBytes: number;
}

function dirBytes(dir: string): number {
  let n = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) n += e.isDirectory() ? dirBytes(path.join(dir, e.name)) : fs.statSync(path.join(dir, e.name)).size;
  return n;
}

/**
 * The Trainer's progress bar as lines for the parent: isTTY makes the bar redraw at every step, and each
 * redraw, without its terminal controls, becomes one line on stdout (synchronous on a pipe, so it
 * leaves during the training loop rather than after it).
 */
function progressToParent(): ProgressStream {
  return {
    isTTY: true,
    write: (s: string) => {
      const text = s.replace(/\r|\x1b\[K/g, '').trim();
      if (text.length > 0) process.stdout.write(`${text}\n`);
    },
  };
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

export function runMethod(job: MethodJob): MethodResult {
  const data = JSON.parse(fs.readFileSync(job.dataFile, 'utf8')) as Record<'train' | 'validation' | 'test', TokenizedExample[]>;
  const base = classifierFromBase(job.baseDir, SPAM_LABELS, job.seed);
  const spec = methodTable(base.config.numHiddenLayers, job.steps).find((m) => m.name === job.method);
  if (!spec) throw new Error(`compare-one: unknown method ${job.method}`);
  const config = makeConfig(spec);
  const model: Module = config ? getPeftModel(base, config) : base;
  const counts = model instanceof PeftModel ? model.getNbTrainableParameters() : { trainable: base.numParameters(), all: base.numParameters() };
  const trainer = new Trainer(model, {
    trainDataset: data.train, task: 'seq_cls', padId: job.padId, batchSize: job.batchSize, maxSteps: job.steps, lr: spec.lr,
    warmupSteps: Math.ceil(job.steps / 10), seed: job.seed, logFile: null, progress: progressToParent(),
    paramGroups: config ? [headParamGroup] : [],
  });
  const started = Date.now();
  const r = trainer.train();
  const trainSeconds = (Date.now() - started) / 1000;
  // Diff pruning ends by projecting each delta to its target density: the model evaluated and the
  // adapter saved (sparse) are that final one.
  if (model instanceof PeftModel && config?.peftType === 'DIFF_PRUNING') finalizeDiffPruning(model);
  const opts = { task: 'seq_cls' as const, padId: job.padId, batchSize: 32, numLabels: 2 };
  const test = evaluate(model, data.test, opts);
  const validation = evaluate(model, data.validation, opts);
  fs.rmSync(job.adapterDir, { recursive: true, force: true });
  if (model instanceof PeftModel) model.savePretrained(job.adapterDir);
  else saveModelFolder(base, job.adapterDir);
  const losses = r.stepLosses.map((s) => s.loss);
  const k = Math.max(1, Math.floor(losses.length / 10));
  const spam = data.test.filter((e) => e.label === 1).length;
  const result: MethodResult = {
    method: job.method, peftType: config ? config.peftType : null,
    trainableParams: counts.trainable, totalParams: counts.all, trainablePercent: (100 * counts.trainable) / counts.all,
    testAccuracy: test.eval_accuracy, testF1: test.eval_f1, majorityAccuracy: Math.max(spam, data.test.length - spam) / data.test.length,
    validationAccuracy: validation.eval_accuracy,
    firstTrainLoss: mean(losses.slice(0, k)), lastTrainLoss: mean(losses.slice(-k)), steps: r.globalStep, lr: spec.lr,
    trainSeconds, peakRssMiB: process.resourceUsage().maxRSS / 1024, adapterBytes: dirBytes(job.adapterDir),
  };
  fs.writeFileSync(job.resultFile, JSON.stringify(result, null, 2) + '\n');
  return result;
}
