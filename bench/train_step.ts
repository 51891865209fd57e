/**
 * The train_step row: one full fine-tuning step (zeroGrad, forward, next-token loss, backward, AdamW) of a
 * small GPT-2 through the peftjs API, the same model bench/torch_train_step.py trains in PyTorch.
 *
 * Peak RSS must be the training's own, so the row runs in a fresh node process (this file, run with
 * `--child SHAPE WARMUP STEPS`) that builds the model, trains and reports process.resourceUsage().maxRSS.
 */
import { spawnSync } from 'child_process';
import { setBackend } from '../lib/backend';
import type { IntTensor } from '../lib/tensor/int_tensor';
import { tidy } from '../lib/tensor/scope';
import { GPT2Config } from '../lib/nn/models/gpt2/config';
import { GPT2LMHeadModel } from '../lib/nn/models/gpt2/model';
import { AdamW } from '../lib/optim';

/** L layers, H heads, width d, vocabulary V, sequence T, batch B. */
export interface TrainShape {
  L: number;
  H: number;
  d: number;
  V: number;
  T: number;
  B: number;
}

export interface TrainStep {
  model: GPT2LMHeadModel;
  optimizer: AdamW;
  inputIds: IntTensor;
  /** Runs one step and returns its loss (the loss before this step's update). */
  step(): number;
}

/** Token ids in [0, V) from a xorshift generator: the same batch every step, as in the torch script. */
export function randomIds(shape: TrainShape, seed = 1): IntTensor {
  const data = new Int32Array(shape.B * shape.T);
  let s = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < data.length; i++) {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    data[i] = s % shape.V;
  }
  return { data, shape: [shape.B, shape.T] };
}

/** Builds the model (dropout 0, positions = T), AdamW(lr 1e-4) over every parameter, and the step. */
export function buildTrainStep(shape: TrainShape, opts: { lr?: number; seed?: number } = {}): TrainStep {
  const config = new GPT2Config({
    vocabSize: shape.V, nPositions: shape.T, nEmbd: shape.d, nLayer: shape.L, nHead: shape.H,
    residPdrop: 0, embdPdrop: 0, attnPdrop: 0,
  });
  const model = new GPT2LMHeadModel(config);
  model.train();
  const optimizer = new AdamW(model.parameters(), { lr: opts.lr ?? 1e-4 });
  const inputIds = randomIds(shape, opts.seed);
  // The model shifts labels itself (HF's convention): labels are the input ids.
  const step = () => tidy(() => {
    optimizer.zeroGrad();
    const { loss } = model.forward({ inputIds, labels: inputIds });
    loss!.backward();
    optimizer.step();
    return loss!.item();
  });
  return { model, optimizer, inputIds, step };
}

/** Steps per side: few, since one step of the default row is seconds on two cores. */
export const TRAIN_WARMUP = 1;
export const TRAIN_STEPS = 3;

export interface TrainTiming {
  ms: number;
  tokens_per_s: number;
  peak_rss_mb: number;
  losses: number[];
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b), mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** In this process: build, warm up, time `steps` steps; RSS is this process's peak so far. */
export function trainHere(shape: TrainShape, warmup: number, steps: number): TrainTiming {
  setBackend('native');
  const t = buildTrainStep(shape);
  const losses: number[] = [];
  for (let i = 0; i < warmup; i++) losses.push(t.step());
  const samples: number[] = [];
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    losses.push(t.step());
    samples.push(performance.now() - t0);
    process.stderr.write('.');
  }
  const ms = median(samples);
  // maxRSS is in KiB, as ru_maxrss on the torch side.
  return { ms, tokens_per_s: (shape.B * shape.T) / (ms / 1e3), peak_rss_mb: process.resourceUsage().maxRSS / 1024, losses };
}

/** Runs trainHere in a fresh node process (this file compiled to js, as `npm run bench` runs it). */
export function trainInChild(shape: TrainShape, warmup = TRAIN_WARMUP, steps = TRAIN_STEPS): TrainTiming {
  if (!__filename.endsWith('.js'))
    throw new Error(`train_step: the child process runs the compiled bench (${__filename} is not .js); run \`npm run build\` and \`npm run bench\``);
  const res = spawnSync(process.execPath, [__filename, '--child', JSON.stringify(shape), String(warmup), String(steps)],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 20 });
  if (res.status !== 0) throw new Error(`train_step: the child node process exited with ${res.status ?? res.signal}`);
  return JSON.parse(res.stdout) as TrainTiming;
}

if (require.main === module) {
  const [flag, shape, warmup, steps] = process.argv.slice(2);
  if (flag !== '--child' || shape === undefined) {
    console.error('usage: node train_step.js --child \'{"L":6,"H":8,"d":512,"V":8192,"T":256,"B":8}\' [warmup] [steps]');
    process.exit(2);
  }
  const out = trainHere(JSON.parse(shape) as TrainShape, Number(warmup ?? 1), Number(steps ?? 3));
  process.stdout.write(JSON.stringify(out) + '\n');
}
