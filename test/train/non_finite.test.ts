/**
 * NaN and Inf in training: a non-finite loss (or, when clipping, gradient norm) stops the run with an error
 * naming the step, the last finite step and what to try; skipNonFiniteSteps skips such steps instead (no
 * update, gradients dropped, counted in the log and the result, across a resume); a checkpoint is never
 * written from non-finite parameters. Every spec runs on both backends; most use AbsModel, whose NaN and Inf
 * come from elementwise ops and a mean, and one a real model (NaN through attention and cross-entropy).
 */
import * as fs from 'fs';
import {
  type BackendName, fromArray, listCheckpoints, type LogEntry, NonFiniteLossError, setBackend, SGD, Trainer, type TrainerOptions,
} from '../../lib';
import { AbsModel, absData, countingData, goldenGpt2, tempDir } from './train_fixtures';

/** The error train() throws (failing the spec when it throws none). */
function trainError(t: Trainer): Error {
  try {
    t.train();
  } catch (e) {
    return e as Error;
  }
  throw new Error('train() did not throw');
}

const W0 = [0.5, -0.5, 1, 2];
/** SGD (lr 0.1, no clipping): a step moves each weight of AbsModel by 0.1 * sign(w) / 4 towards 0. */
const sgd = (): Partial<TrainerOptions> => ({ optimizer: (groups) => new SGD(groups, { lr: 0.1 }) as never, maxGradNorm: 0, scheduler: 'constant' });

describe.each(['js', 'native'] as BackendName[])('non-finite steps on the %s backend', (backendName) => {
  beforeAll(() => setBackend(backendName));

  it('a parameter gone NaN makes the next loss NaN: training stops there, naming the last finite step and what to try', () => {
    const model = new AbsModel(W0);
    const t = new Trainer(model, { trainDataset: absData(8), batchSize: 2, maxSteps: 8, lr: 0.01, progress: false, onLog: (e) => e.step === 2 && model.set([NaN, 1, 1, 1]) });
    const e = trainError(t);
    expect(e).toBeInstanceOf(NonFiniteLossError);
    expect(e).toMatchObject({ step: 3, quantity: 'loss', value: NaN, lastFiniteStep: 2 });
    expect(e.message).toBe('Trainer: loss is NaN at step 3 (the last finite step was 2). Try a lower learning rate (lr), gradient clipping ' +
      '(maxGradNorm, e.g. 1.0), checking the data for bad values, or skipNonFiniteSteps: true to skip such steps');
    expect(t.step).toBe(2);
  });

  it('lr 1e30: the first update blows the weights up and the second loss is Inf', () => {
    const t = new Trainer(new AbsModel(W0), { trainDataset: absData(8), batchSize: 2, maxSteps: 4, lr: 1e30, scheduler: 'constant', progress: false });
    expect(trainError(t).message).toMatch(/^Trainer: loss is Inf at step 2 \(the last finite step was 1\)\. Try a lower learning rate/);
  });

  it('a bad value in the data, on the first step: no earlier step was finite', () => {
    const t = new Trainer(new AbsModel(W0), { trainDataset: absData(4, [1]), batchSize: 2, maxSteps: 2, shuffle: false, progress: false });
    expect(trainError(t)).toMatchObject({ step: 1, lastFiniteStep: null, message: expect.stringMatching(/^Trainer: loss is NaN at step 1 \(no earlier step was finite\)/) });
  });

  it('skipNonFiniteSteps: a bad micro-batch skips its step (no update, the window\'s gradients dropped); the schedule and the run go on', () => {
    // Batches of 1, two per step, in order: step 3 is examples 4 (good: its gradient is accumulated) and 5 (NaN).
    const weights: number[][] = [];
    const logs: LogEntry[] = [];
    const model = new AbsModel(W0);
    const t = new Trainer(model, {
      trainDataset: absData(8, [5]), batchSize: 1, gradientAccumulationSteps: 2, maxSteps: 4, shuffle: false, skipNonFiniteSteps: true, ...sgd(), progress: false,
      onLog: (e) => {
        logs.push(e);
        weights.push([...model.w.toFloat32Array()]);
      },
    });
    const r = t.train();
    expect(r.skippedNonFiniteSteps).toBe(1);
    expect(r.stepLosses.map((s) => s.step)).toEqual([1, 2, 4]);
    expect(logs.map((e) => [e.step, e.skipped_nonfinite_steps])).toEqual([[1, 0], [2, 0], [3, 1], [4, 1]]);
    expect(logs[2]).toMatchObject({ loss: null, grad_norm: null });
    expect(weights[2]).toEqual(weights[1]);  // step 3 changed nothing
    // Step 4 moves each weight by its own gradient only: example 4's gradient from step 3 was dropped.
    expect(weights[3]).toAllClose(weights[2].map((w) => w - (0.1 * Math.sign(w)) / 4), { atol: 1e-7 });
    expect(model.w.grad).toBeNull();
  });

  it('skipNonFiniteSteps: skipped steps leave the learning-rate schedule as planned', () => {
    const lrs = (data: number[]) => new Trainer(new AbsModel(W0), {
      trainDataset: absData(8, data), batchSize: 2, maxSteps: 4, lr: 0.01, shuffle: false, skipNonFiniteSteps: true, progress: false,
    }).train().log.map((e) => e.lr);
    expect(lrs([2, 4])).toEqual(lrs([]));
  });

  it('skipNonFiniteSteps: the count and the run\'s first loss come back with a resume', () => {
    const dir = tempDir('skip-resume');
    const options = (extra: Partial<TrainerOptions>): TrainerOptions => ({
      trainDataset: absData(8, [2]), batchSize: 2, maxSteps: 8, shuffle: false, lr: 0.01, skipNonFiniteSteps: true, saveSteps: 4, outputDir: dir, progress: false, ...extra,
    });
    const whole = new Trainer(new AbsModel(W0), options({ outputDir: tempDir('skip-whole') })).train();
    expect(whole.skippedNonFiniteSteps).toBe(2);  // example 2 is seen at steps 2 and 6
    const cut = new Trainer(new AbsModel(W0), options({ onLog: (e) => { if (e.step === 5) throw new Error('interrupted'); } }));
    expect(() => cut.train()).toThrow('interrupted');
    const resumed = new Trainer(new AbsModel(W0), options({ resumeFromCheckpoint: true })).train();
    expect(resumed.stepLosses.map((s) => s.step)).toEqual([5, 7, 8]);
    expect(resumed).toMatchObject({ skippedNonFiniteSteps: 2, firstLoss: whole.firstLoss });
    expect(resumed.firstLoss).toBe(whole.stepLosses[0].loss);
    expect(resumed.log).toEqual(whole.log);
  });

  it('a checkpoint is not written from NaN parameters: the error names one, and the newest good checkpoint stays', () => {
    const dir = tempDir('nan-save');
    const model = new AbsModel(W0);
    const t = new Trainer(model, {
      trainDataset: absData(8), batchSize: 2, maxSteps: 8, lr: 0.01, saveSteps: 2, saveTotalLimit: 1, outputDir: dir, progress: false,
      onLog: (e) => e.step === 4 && model.set([1, NaN, 1, 1]),
    });
    expect(() => t.train()).toThrow('Trainer: not saving checkpoint-4: the trainable parameter w holds NaN or Inf values (the newest checkpoint, checkpoint-2, is kept)');
    expect(listCheckpoints(dir).map((c) => c.step)).toEqual([2]);
    expect(fs.readdirSync(dir).filter((n) => n.startsWith('.'))).toEqual([]);
  });

  it('without clipping a NaN gradient goes unseen until the update makes the weights NaN: the save refuses', () => {
    // At w = 0 the loss is 0 but its gradient NaN; with maxGradNorm 0 nothing measures it, and SGD writes it in.
    const dir = tempDir('nan-grad-save');
    const t = new Trainer(new AbsModel([0, 0, 0, 0]), { trainDataset: absData(4), batchSize: 2, maxSteps: 2, saveSteps: 1, outputDir: dir, ...sgd(), progress: false });
    expect(() => t.train()).toThrow('Trainer: not saving checkpoint-1: the trainable parameter w holds NaN or Inf values (there is no earlier checkpoint)');
    expect(fs.readdirSync(dir).filter((n) => n.startsWith('checkpoint') || n.startsWith('.'))).toEqual([]);
  });

  it('with clipping, a NaN gradient norm stops the run before the update (or is skipped)', () => {
    const model = new AbsModel([0, 0, 0, 0]);
    const t = new Trainer(model, { trainDataset: absData(4), batchSize: 2, maxSteps: 2, lr: 0.01, maxGradNorm: 1, progress: false });
    expect(trainError(t)).toMatchObject({ step: 1, quantity: 'gradient norm', message: expect.stringMatching(/^Trainer: gradient norm is NaN at step 1 /) });
    expect([...model.w.toFloat32Array()]).toEqual([0, 0, 0, 0]);
    const skipping = new Trainer(model, { trainDataset: absData(4), batchSize: 2, maxSteps: 2, lr: 0.01, maxGradNorm: 1, skipNonFiniteSteps: true, progress: false });
    expect(skipping.train()).toMatchObject({ globalStep: 2, skippedNonFiniteSteps: 2, stepLosses: [] });
    expect([...model.w.toFloat32Array()]).toEqual([0, 0, 0, 0]);
  });

  it('a real model (the golden GPT-2) with a NaN weight: the loss is NaN at the next step', () => {
    const model = goldenGpt2();
    const lnF = new Map(model.namedParameters()).get('transformer.ln_f.weight')!;
    const poison = () => model.loadStateDict({ 'transformer.ln_f.weight': fromArray(new Float32Array(lnF.size).fill(NaN), lnF.shape) }, { strict: false });
    const t = new Trainer(model, { trainDataset: countingData(8), batchSize: 2, maxSteps: 4, lr: 0.01, progress: false, onLog: (e) => e.step === 2 && poison() });
    expect(trainError(t).message).toMatch(/^Trainer: loss is NaN at step 3 \(the last finite step was 2\)/);
  });
});

describe('skipNonFiniteSteps', () => {
  it('must be a boolean', () => {
    expect(() => new Trainer(new AbsModel(W0), { trainDataset: absData(2), skipNonFiniteSteps: 1 as never })).toThrow('Trainer: skipNonFiniteSteps must be a boolean, got 1');
  });
});
