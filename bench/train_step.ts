/**
 * The train_step row: one full fine-tuning step (zeroGrad, forward, next-token loss, backward, AdamW) of a
 * small GPT-2 through the peftjs API, the same model bench/torch_train_step.py trains in PyTorch.
 *
 * Peak RSS must be the training's own, so the row runs in a fresh node process (this file, run with
 * `--child SHAPE WARMUP STEPS`) that builds the model, trains and reports process.resourceUsage().maxRSS.
 */
import { setBackend } from '../lib/backend';
import type { IntTensor } from '../lib/tensor/int_tensor';
import { tidy } from '../lib/tensor/scope';
import { GPT2Config } from '../lib/nn/models/gpt2/config';
import { GPT2LMHeadModel } from '../lib/nn/models/gpt2/model';
import { AdamW } from '../lib/optim';
import { childMain, runChild, type StepTiming, timeSteps } from './step_child';

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

export type TrainTiming = StepTiming;

/** In this process: build, warm up, time `steps` steps; RSS is this process's peak so far. */
export function trainHere(shape: TrainShape, warmup: number, steps: number): TrainTiming {
  setBackend('native');
  const t = buildTrainStep(shape);
  return timeSteps(t.step, warmup, steps, shape.B * shape.T);
}

/** Runs trainHere in a fresh node process (this file compiled to js, as `npm run bench` runs it). */
export function trainInChild(shape: TrainShape, warmup = TRAIN_WARMUP, steps = TRAIN_STEPS): TrainTiming {
  return runChild(__filename, 'train_step', shape, warmup, steps);
}

if (require.main === module) childMain('{"L":6,"H":8,"d":512,"V":8192,"T":256,"B":8}', 'train_step.js', trainHere);
