/**
 * peftjs compare: the main job. Pretrains (or finds cached) a small byte-level Llama on English text,
 * fine-tunes it as a ham/spam classifier on SpamAssassin with every PEFT method, each in a fresh child
 * process (`peftjs compare-one`) so its peak RSS is its own, and writes the table as text, JSON, Markdown
 * and an SVG plot.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { ByteTokenizer } from '../../io/byte_tokenizer';
import { CliError, numberFlag, parseFlags, stringFlag } from '../args';
import { type BaseModelSpec, cacheRoot, ensureBaseModel } from './base_model';
import { loadSpamSplits, type SpamExample } from './datasets';
import { METHOD_NAMES, methodAvailable, methodTable } from './methods';
import { compareSvg, markdownTable, textTable } from './report';
import type { MethodJob, MethodResult } from './run_method';

export const COMPARE_HELP = `usage: peftjs compare [--quick] [--out DIR] [--methods a,b,...] [--cache-dir DIR] [--steps N]
  Pretrains a small byte-level Llama on Moby Dick + State of the Union addresses (cached under
  --cache-dir, else $PEFTJS_CACHE_DIR, else ~/.cache/peftjs), fine-tunes it to tell spam from ham
  (SpamAssassin message bodies, a fixed split by a hash of the message id) with each method, and prints
  method | trainable params | trainable % | test accuracy | F1 | train time | peak memory | adapter size.
  --steps: optimizer steps per method (default 160 of 8 examples; --quick: 200 of 16).
  Writes results.json, results.md and results.svg (plus each adapter) into --out (default compare-results).
  Peak memory is each method's own process's maximum resident set size (maxRSS).
  About 15 minutes on 2 cores the first time (pretraining included); --quick: about 2 minutes.
  methods: ${METHOD_NAMES.join(', ')}
examples:
  peftjs compare
  peftjs compare --quick --out /tmp/cmp
  peftjs compare --methods full,lora,ia3`;

/** What differs between the full run and --quick. */
export interface CompareMode {
  name: 'full' | 'quick';
  base: BaseModelSpec;
  /** Classification: bytes of body kept (tokens, BOS included), optimizer steps, batch size. */
  maxLength: number;
  steps: number;
  batchSize: number;
}

// Full: a base of ~4M parameters, so LoRA r=8 on q and v (plus the 2-class head) is under 1% of it
// (hidden 288 is about the smallest width where that holds with four blocks). Batches of 8: at 64 steps
// of 16, full fine-tuning reached 70.9% (the majority class is 69.1%); at 160 of 8, 82.0%.
// Quick: a ~100K-parameter base whose 600 pretraining steps take ~30 s; 128 bytes of body, since at 64 bytes the weaker methods
// found too little signal to beat the majority class.
export const MODES: Record<'full' | 'quick', CompareMode> = {
  full: {
    name: 'full',
    base: { hiddenSize: 288, numHiddenLayers: 4, numAttentionHeads: 4, intermediateSize: 768, context: 128, steps: 240, batchSize: 16, lr: 2e-3, seed: 42 },
    maxLength: 128, steps: 160, batchSize: 8,
  },
  quick: {
    name: 'quick',
    base: { hiddenSize: 64, numHiddenLayers: 2, numAttentionHeads: 4, intermediateSize: 172, context: 128, steps: 600, batchSize: 16, lr: 3e-3, seed: 42 },
    maxLength: 128, steps: 200, batchSize: 16,
  },
};

/** The body with whitespace runs collapsed (more words fit the context), as byte tokens truncated to maxLength. */
export function tokenizeSpam(examples: SpamExample[], tok: ByteTokenizer, maxLength: number): { inputIds: number[]; label: number }[] {
  return examples.map((e) => ({ inputIds: tok.encode(e.text.replace(/\s+/g, ' ').trim(), { bos: true }).slice(0, maxLength), label: e.label }));
}

export interface CompareSummary {
  mode: string;
  baseModel: string;
  results: MethodResult[];
  failed: { method: string; error: string }[];
}

export function compareCommand(argv: string[], log: (s: string) => void = (s) => process.stderr.write(s + '\n')): CompareSummary {
  const flags = parseFlags('compare', argv, { values: ['out', 'methods', 'cache-dir', 'steps'], switches: ['quick'] });
  const preset = MODES[flags.has('quick') ? 'quick' : 'full'];
  const mode = { ...preset, steps: numberFlag('compare', flags, 'steps', preset.steps, (v) => Number.isInteger(v) && v > 0, 'a positive integer') };
  const out = path.resolve(stringFlag(flags, 'out') ?? 'compare-results');
  const all = methodTable(mode.base.numHiddenLayers);
  const asked = stringFlag(flags, 'methods');
  let methods = all;
  if (asked !== undefined) {
    const names = asked.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
    const unknown = names.filter((n) => !all.some((m) => m.name === n));
    if (names.length === 0 || unknown.length > 0) throw new CliError(`peftjs compare: --methods: unknown method(s) ${unknown.join(', ') || "''"} (known: ${METHOD_NAMES.join(', ')})`);
    methods = all.filter((m) => names.includes(m.name));
  }
  const missing = methods.filter((m) => !methodAvailable(m));
  if (missing.length > 0) log(`compare: this build lacks ${missing.map((m) => m.name).join(', ')}; skipping them`);
  methods = methods.filter(methodAvailable);

  const started = Date.now();
  const splits = loadSpamSplits();
  const tok = new ByteTokenizer();
  fs.mkdirSync(path.join(out, 'work'), { recursive: true });
  const data = {
    train: tokenizeSpam(splits.train, tok, mode.maxLength),
    validation: tokenizeSpam(splits.validation, tok, mode.maxLength),
    test: tokenizeSpam(splits.test, tok, mode.maxLength),
  };
  const dataFile = path.join(out, 'work', 'data.json');
  fs.writeFileSync(dataFile, JSON.stringify(data));
  log(`compare (${mode.name}): SpamAssassin bodies, ${data.train.length} train / ${data.validation.length} validation / ${data.test.length} test, ${mode.maxLength} bytes each`);
  const baseDir = ensureBaseModel(cacheRoot(stringFlag(flags, 'cache-dir')), mode.base, log);

  const results: MethodResult[] = [];
  const failed: { method: string; error: string }[] = [];
  const mainJs = path.join(__dirname, '..', 'main.js');
  for (const m of methods) {
    const job: MethodJob = {
      method: m.name, baseDir, dataFile, adapterDir: path.join(out, 'adapters', m.name), resultFile: path.join(out, 'work', `${m.name}.json`),
      steps: mode.steps, batchSize: mode.batchSize, seed: 42, padId: tok.padId,
    };
    const jobFile = path.join(out, 'work', `${m.name}.job.json`);
    fs.writeFileSync(jobFile, JSON.stringify(job));
    fs.rmSync(job.resultFile, { force: true });
    const t0 = Date.now();
    const child = spawnSync(process.execPath, [mainJs, 'compare-one', jobFile], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
    if (child.status !== 0 || !fs.existsSync(job.resultFile)) {
      const error = (child.stderr || child.error?.message || `exit ${child.status}`).trim().split('\n').slice(-3).join(' | ');
      log(`compare: ${m.name} failed: ${error}`);
      failed.push({ method: m.name, error });
      continue;
    }
    const r = JSON.parse(fs.readFileSync(job.resultFile, 'utf8')) as MethodResult;
    results.push(r);
    log(`compare: ${m.name.padEnd(15)} accuracy ${(100 * r.testAccuracy).toFixed(1)}%  loss ${r.firstTrainLoss.toFixed(3)} -> ${r.lastTrainLoss.toFixed(3)}  (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  }

  const summary: CompareSummary = { mode: mode.name, baseModel: baseDir, results, failed };
  const title = `peftjs compare${mode.name === 'quick' ? ' --quick' : ''}: SpamAssassin ham vs spam`;
  const meta = { ...summary, settings: mode, majorityAccuracy: results[0]?.majorityAccuracy ?? null, totalSeconds: (Date.now() - started) / 1000 };
  fs.writeFileSync(path.join(out, 'results.json'), JSON.stringify(meta, null, 2) + '\n');
  const note = `Base model: ${baseDir} (${mode.base.hiddenSize} hidden, ${mode.base.numHiddenLayers} layers, byte tokenizer). ` +
    `${mode.steps} steps of ${mode.batchSize} per method; test set: ${data.test.length} messages, majority class ${(100 * (meta.majorityAccuracy ?? 0)).toFixed(1)}%. ` +
    'Peak memory: the maximum resident set size of the method\'s own process.';
  fs.writeFileSync(path.join(out, 'results.md'), `# ${title}\n\n${markdownTable(results)}\n\n${note}\n` +
    (failed.length ? `\nFailed: ${failed.map((f) => `${f.method} (${f.error})`).join('; ')}\n` : ''));
  fs.writeFileSync(path.join(out, 'results.svg'), compareSvg(results, title));
  console.log(textTable(results));
  log(`compare: ${results.length} methods in ${meta.totalSeconds.toFixed(0)} s; results in ${out} (results.json, results.md, results.svg)`);
  if (failed.length > 0) throw new CliError(`peftjs compare: ${failed.length} method(s) failed: ${failed.map((f) => f.method).join(', ')}`);
  return summary;
}

/** The hidden verb a compare child runs: one method from a job file. */
export function compareOneCommand(argv: string[]): void {
  if (argv.length !== 1 || !fs.existsSync(argv[0])) throw new CliError('peftjs compare-one: expects one job file (internal to peftjs compare)');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { runMethod } = require('./run_method') as typeof import('./run_method');
  runMethod(JSON.parse(fs.readFileSync(argv[0], 'utf8')) as MethodJob);
}
