/**
 * peftjs compare: the main job. Pretrains (or finds cached) a small byte-level Llama on English text,
 * fine-tunes it as a ham/spam classifier on SpamAssassin with every PEFT method, each in a fresh child
 * process (`peftjs compare-one`) so its peak RSS is its own, and writes the table as text, JSON, Markdown
 * and an SVG plot.
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as readline from 'readline';
import { loadTokenizer, type Tokenizer } from '../../io/tokenizer';
import type { ProgressStream } from '../../train/progress';
import { CliError, numberFlag, parseFlags, stringFlag } from '../args';
import { type BaseModelSpec, cacheRoot, ensureBaseModel } from './base_model';
import { loadSpamSplits, type SpamExample } from './datasets';
import { DEFAULT_METHOD_NAMES, METHOD_NAMES, methodAvailable, methodTable } from './methods';
import { ChildProgressView } from './progress_view';
import { compareSvg, markdownTable, textTable } from './report';
import type { MethodJob, MethodResult } from './run_method';

export const COMPARE_HELP = `usage: peftjs compare [--quick] [--out DIR] [--methods a,b,...] [--cache-dir DIR] [--steps N]
  Pretrains a small Llama, with a BPE tokenizer trained on the same text, on Moby Dick + State of the
  Union addresses (cached under --cache-dir, else $PEFTJS_CACHE_DIR, else ~/.cache/peftjs), fine-tunes
  it to tell spam from ham (SpamAssassin message bodies, a fixed split by a hash of the message id) with
  each method, and prints
  method | trainable params | trainable % | test accuracy | F1 | train time | peak memory | adapter size.
  --steps: optimizer steps per method (default 640 of 8 examples; --quick: 200 of 16).
  Writes results.json, results.md and results.svg (plus each adapter) into --out (default ./compare-results),
  and says where before it starts. A progress bar (steps, loss, tokens/s, time left) shows each method's
  training: redrawn on a terminal, a line every 10 s otherwise.
  Peak memory is each method's own process's maximum resident set size (maxRSS).
  About 15 minutes on 2 cores the first time (pretraining included), 12 after (Zen 4; 11 and 9 on Zen 5);
  --quick: about 1.5 minutes.
  methods (run by default): ${DEFAULT_METHOD_NAMES.join(', ')}
  HF peft's other methods (when --methods names them, or --methods all): ${METHOD_NAMES.filter((n) => !DEFAULT_METHOD_NAMES.includes(n)).join(', ')}
examples:
  peftjs compare
  peftjs compare --quick --out /tmp/cmp
  peftjs compare --methods full,lora,ia3
  peftjs compare --methods loha,lokr,vera,adalora,oft,boft,fourierft,ln-tuning`;

/** What differs between the full run and --quick. */
export interface CompareMode {
  name: 'full' | 'quick';
  base: BaseModelSpec;
  /** Classification: tokens of body kept (BOS included), optimizer steps, batch size. */
  maxLength: number;
  steps: number;
  batchSize: number;
}

// Full: a base of ~5M parameters (1.2M of them the 4096 x 288 embedding), so LoRA r=8 on q and v (plus
// the 2-class head) is 0.72% of it. The BPE tokenizer (~3.3 bytes per token on this text) lets 400
// pretraining steps see ~2.7 MB of text (loss 7.1 -> 5.5) and 64 tokens hold ~200 bytes of a body; a
// bag-of-words logistic regression over those 64 tokens reaches 96.9% on test, 128 tokens 97.9%. Steps
// are what the methods lack: full fine-tuning read 76% / 82% after 160 / 320 steps of 8 on 128 tokens,
// 88.7% after 640 steps on 64 (the same time as 320 on 128).
// Quick: a ~170K-parameter base whose 600 pretraining steps take ~30 s.
export const MODES: Record<'full' | 'quick', CompareMode> = {
  full: {
    name: 'full',
    base: { vocabSize: 4096, hiddenSize: 288, numHiddenLayers: 4, numAttentionHeads: 4, intermediateSize: 768, context: 128, steps: 400, batchSize: 16, lr: 2e-3, seed: 42 },
    maxLength: 64, steps: 640, batchSize: 8,
  },
  quick: {
    name: 'quick',
    base: { vocabSize: 1024, hiddenSize: 64, numHiddenLayers: 2, numAttentionHeads: 4, intermediateSize: 172, context: 128, steps: 600, batchSize: 16, lr: 3e-3, seed: 42 },
    maxLength: 64, steps: 200, batchSize: 16,
  },
};

/**
 * The first maxLength tokens (BOS first) of a text, encoding only as much of it as needed: a prefix cut
 * at a space (no word split, so its tokens are those of the whole text) of 8 characters per token,
 * or the whole text when that prefix falls short.
 */
export function encodeHead(tok: Tokenizer, text: string, maxLength: number): number[] {
  const limit = 8 * maxLength;
  const space = text.length > limit ? text.lastIndexOf(' ', limit) : -1;
  if (space > 0) {
    const ids = tok.encode(text.slice(0, space), { bos: true });
    if (ids.length >= maxLength) return ids.slice(0, maxLength);
  }
  return tok.encode(text, { bos: true }).slice(0, maxLength);
}

/** The body with whitespace runs collapsed (more words fit the context), as its first maxLength tokens. */
export function tokenizeSpam(examples: SpamExample[], tok: Tokenizer, maxLength: number): { inputIds: number[]; label: number }[] {
  return examples.map((e) => ({ inputIds: encodeHead(tok, e.text.replace(/\s+/g, ' ').trim(), maxLength), label: e.label }));
}

export interface CompareSummary {
  mode: string;
  baseModel: string;
  results: MethodResult[];
  failed: { method: string; error: string }[];
}

/** A failed child's error line and where it was thrown (children run with PEFTJS_DEBUG=1, so they print the stack). */
function childError(stderr: string): string {
  const lines = stderr.trim().split('\n');
  const at = lines.findIndex((l) => /^([A-Za-z]*Error|CliError)\b/.test(l.trim()));
  return at >= 0 ? lines.slice(at, at + 2).map((l) => l.trim()).join(' ') : lines.slice(-3).join(' | ');
}

/**
 * Runs one method's child (`peftjs compare-one JOB`), showing the progress lines it sends on stdout in
 * `view`; resolves with its exit status and stderr.
 */
function runChild(jobFile: string, view: ChildProgressView): Promise<{ status: number | null; stderr: string }> {
  const mainJs = path.join(__dirname, '..', 'main.js');
  // PEFTJS_DEBUG: a failing child prints its stack, from which childError takes the line that threw.
  const child = spawn(process.execPath, [mainJs, 'compare-one', jobFile], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PEFTJS_DEBUG: '1' } });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk; });
  readline.createInterface({ input: child.stdout }).on('line', (line) => view.update(line));
  return new Promise((resolve) => {
    const done = (status: number | null, extra = '') => {
      view.end();
      resolve({ status, stderr: stderr + extra });
    };
    child.on('error', (e) => done(null, e.message));  // it could not start: 'close' may never come
    child.on('close', (status) => done(status));
  });
}

export async function compareCommand(argv: string[], log: (s: string) => void = (s) => process.stderr.write(s + '\n'),
                                     progress: ProgressStream = process.stderr): Promise<CompareSummary> {
  const flags = parseFlags('compare', argv, { values: ['out', 'methods', 'cache-dir', 'steps'], switches: ['quick'] });
  const preset = MODES[flags.has('quick') ? 'quick' : 'full'];
  const mode = { ...preset, steps: numberFlag('compare', flags, 'steps', preset.steps, (v) => Number.isInteger(v) && v > 0, 'a positive integer') };
  const out = path.resolve(stringFlag(flags, 'out') ?? 'compare-results');
  const all = methodTable(mode.base.numHiddenLayers, mode.steps);
  const asked = stringFlag(flags, 'methods');
  let methods = all.filter((m) => !m.extended);
  if (asked === 'all') methods = all;
  else if (asked !== undefined) {
    const names = asked.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
    const unknown = names.filter((n) => !all.some((m) => m.name === n));
    if (names.length === 0 || unknown.length > 0) throw new CliError(`peftjs compare: --methods: unknown method(s) ${unknown.join(', ') || "''"} (known: ${METHOD_NAMES.join(', ')}, or all)`);
    methods = all.filter((m) => names.includes(m.name));
  }
  const missing = methods.filter((m) => !methodAvailable(m));
  if (missing.length > 0) log(`compare: this build lacks ${missing.map((m) => m.name).join(', ')}; skipping them`);
  methods = methods.filter(methodAvailable);
  // Said first: the run takes minutes, and its files land in the current folder unless --out says otherwise.
  log(`compare: writing results to ${out}`);

  const started = Date.now();
  const splits = loadSpamSplits();
  const baseDir = ensureBaseModel(cacheRoot(stringFlag(flags, 'cache-dir')), mode.base, log);
  const tok = loadTokenizer(baseDir);
  if (tok.padId === null) throw new Error(`compare: the tokenizer in ${baseDir} has no pad token`);
  fs.mkdirSync(path.join(out, 'work'), { recursive: true });
  const data = {
    train: tokenizeSpam(splits.train, tok, mode.maxLength),
    validation: tokenizeSpam(splits.validation, tok, mode.maxLength),
    test: tokenizeSpam(splits.test, tok, mode.maxLength),
  };
  const dataFile = path.join(out, 'work', 'data.json');
  fs.writeFileSync(dataFile, JSON.stringify(data));
  log(`compare (${mode.name}): SpamAssassin bodies, ${data.train.length} train / ${data.validation.length} validation / ${data.test.length} test, up to ${mode.maxLength} tokens each`);

  const results: MethodResult[] = [];
  const failed: { method: string; error: string }[] = [];
  for (const m of methods) {
    const job: MethodJob = {
      method: m.name, baseDir, dataFile, adapterDir: path.join(out, 'adapters', m.name), resultFile: path.join(out, 'work', `${m.name}.json`),
      steps: mode.steps, batchSize: mode.batchSize, seed: 42, padId: tok.padId,
    };
    const jobFile = path.join(out, 'work', `${m.name}.job.json`);
    fs.writeFileSync(jobFile, JSON.stringify(job));
    fs.rmSync(job.resultFile, { force: true });
    const t0 = Date.now();
    const child = await runChild(jobFile, new ChildProgressView(progress, `compare: ${m.name.padEnd(15)}`));
    if (child.status !== 0 || !fs.existsSync(job.resultFile)) {
      const error = childError(child.stderr || `exit ${child.status}`);
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
  const note = `Base model: ${baseDir} (${mode.base.hiddenSize} hidden, ${mode.base.numHiddenLayers} layers, BPE vocabulary ${tok.vocabSize}). ` +
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
