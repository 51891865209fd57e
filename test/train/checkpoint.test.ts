/**
 * Checkpoints: a run interrupted after a checkpoint and resumed from it reproduces the uninterrupted run
 * bit for bit (losses, log and final weights), for full fine-tuning (with dropout) and for LoRA (with
 * LoRA dropout); a checkpoint write that fails midway leaves the previous checkpoint whole and loadable.
 */
import * as fs from 'fs';
import * as path from 'path';
import {
  getPeftModel, getRandomState, getSeedCounters, latestCheckpoint, listCheckpoints, LoraConfig, manualSeed, type Module, OPTIMIZER_STATE,
  readTrainerState, setBackend, Trainer, type TrainerOptions,
} from '../../lib';
import { countingData, dropoutGpt2, goldenGpt2, tempDir, weightsOf } from './train_fixtures';

beforeAll(() => setBackend('native'));

// 10 examples in batches of 2 with 2 micro-batches per step: windows of 2, 2, 1 batches, 3 steps an epoch;
// 4 epochs = 12 steps. Checkpoints at 4 (mid epoch 1) and 8 (mid epoch 2); the shuffled order differs by epoch.
const plan = (outputDir: string): TrainerOptions => ({
  trainDataset: countingData(10, [8, 6, 7]), evalDataset: countingData(3), batchSize: 2, gradientAccumulationSteps: 2, epochs: 4,
  lr: 5e-3, warmupSteps: 2, scheduler: 'cosine', evalSteps: 3, saveSteps: 4, outputDir, seed: 5, progress: false,
});

/** lora_A's initialization draws from the global stream: seed it so every run starts from the same adapter. */
function seeded<T>(seed: number, fn: () => T): T {
  manualSeed(seed);
  return fn();
}

interface RunOutcome {
  losses: Map<number, number>;
  weights: Map<string, Float32Array>;
  log: string;
}

/** Runs the plan start to end, or stops it (throwing from the log callback) after step `stopAfter`. */
function runPlan(makeModel: () => Module, outputDir: string, opts: { stopAfter?: number; resume?: boolean } = {}): RunOutcome {
  const model = makeModel();
  const losses = new Map<number, number>();
  const options: TrainerOptions = {
    ...plan(outputDir),
    ...(opts.resume ? { resumeFromCheckpoint: true as const } : {}),
    onLog: (e) => {
      if (typeof e.loss === 'number') losses.set(e.step, e.loss);
      if (opts.stopAfter !== undefined && e.step === opts.stopAfter && 'loss' in e) throw new Error('interrupted');
    },
  };
  const trainer = new Trainer(model, options);
  if (opts.stopAfter !== undefined) expect(() => trainer.train()).toThrow('interrupted');
  else trainer.train();
  return { losses, weights: weightsOf(model), log: fs.readFileSync(path.join(outputDir, 'log.jsonl'), 'utf8') };
}

function expectSameRun(resumed: RunOutcome, full: RunOutcome, fromStep: number): void {
  for (const [step, loss] of full.losses) if (step > fromStep) expect({ step, loss: resumed.losses.get(step) }).toEqual({ step, loss });
  expect(resumed.log).toBe(full.log);  // every train and eval entry, bit for bit (no timings in the log)
  for (const [k, w] of full.weights) expect({ k, same: Buffer.compare(Buffer.from(resumed.weights.get(k)!.buffer), Buffer.from(w.buffer)) }).toEqual({ k, same: 0 });
}

describe.each([
  ['full fine-tuning of a GPT-2 with dropout', () => dropoutGpt2(11)],
  ['LoRA (dropout 0.1) on the golden GPT-2', () => seeded(3, () => getPeftModel(goldenGpt2(), new LoraConfig({ r: 4, loraAlpha: 8, targetModules: ['c_attn', 'c_proj'], loraDropout: 0.1 })))],
])('resume: %s', (_name, makeModel) => {
  it('interrupted after step 10 and resumed from checkpoint-8, the run equals the uninterrupted one bit for bit', () => {
    const fullDir = tempDir('full'), cutDir = tempDir('cut');
    const full = runPlan(makeModel, fullDir);
    expect([...full.losses.keys()]).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    const cut = runPlan(makeModel, cutDir, { stopAfter: 10 });
    expect(listCheckpoints(cutDir).map((c) => c.step)).toEqual([4, 8]);
    // Between the interruption and the resume, the random streams move on (as in a new process).
    const moved = { rng: getRandomState(), counters: getSeedCounters() };
    const state = readTrainerState(latestCheckpoint(cutDir)!.dir);
    expect(state).toMatchObject({ globalStep: 8, epoch: 2, batchInEpoch: 4, totalSteps: 12 });
    expect(moved).not.toEqual({ rng: state.randomState, counters: state.seedCounters });
    const resumed = runPlan(makeModel, cutDir, { resume: true });
    expectSameRun(resumed, full, 8);
    // The checkpoint of step 12 is the same in both folders too.
    const a = fs.readFileSync(path.join(fullDir, 'checkpoint-12', OPTIMIZER_STATE)), b = fs.readFileSync(path.join(cutDir, 'checkpoint-12', OPTIMIZER_STATE));
    expect(a.equals(b)).toBe(true);
  });
});

describe('checkpoint folders', () => {
  it('a LoRA checkpoint holds the adapter in savePretrained\'s layout (trainable weights only), the optimizer and the trainer state', () => {
    const dir = tempDir('layout');
    const peft = getPeftModel(goldenGpt2(), new LoraConfig({ r: 2, targetModules: ['c_attn'] }));
    const t = new Trainer(peft, { trainDataset: countingData(4), batchSize: 2, maxSteps: 2, saveSteps: 1, saveTotalLimit: 1, outputDir: dir, progress: false });
    t.train();
    expect(listCheckpoints(dir).map((c) => c.step)).toEqual([2]);  // keep the last 1
    expect(fs.readdirSync(path.join(dir, 'checkpoint-2')).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors', 'optimizer.safetensors', 'trainer_state.json']);
    expect(fs.readdirSync(dir).filter((n) => n.startsWith('.'))).toEqual([]);
    expect(fs.readdirSync(dir).sort()).toEqual(['checkpoint-2', 'log.jsonl', 'log.svg']);
  });

  it('a write that fails after the temporary folder is partly written leaves the previous checkpoint loadable', () => {
    const dir = tempDir('crash');
    const options = (extra: Partial<TrainerOptions> = {}): TrainerOptions => ({ trainDataset: countingData(8), batchSize: 2, maxSteps: 8, saveSteps: 4, outputDir: dir, lr: 1e-2, progress: false, ...extra });
    const trainer = new Trainer(goldenGpt2(), options());
    const realSave = trainer.optimizer.saveState.bind(trainer.optimizer);
    let partial: string[] = [];
    trainer.optimizer.saveState = (file: string) => {
      if (trainer.step < 8) return realSave(file);
      partial = fs.readdirSync(path.dirname(file));  // the weights are already in the temporary folder
      throw new Error('disk full');
    };
    expect(() => trainer.train()).toThrow('disk full');
    expect(partial).toEqual(['model.safetensors']);
    expect(listCheckpoints(dir).map((c) => c.step)).toEqual([4]);
    expect(fs.readdirSync(dir).filter((n) => n.startsWith('.'))).toEqual([]);  // the temporary folder is gone
    // The previous checkpoint resumes; the run finishes and writes checkpoint-8.
    const resumed = new Trainer(goldenGpt2(), options({ resumeFromCheckpoint: true }));
    const r = resumed.train();
    expect(r.stepLosses.map((s) => s.step)).toEqual([5, 6, 7, 8]);
    expect(listCheckpoints(dir).map((c) => c.step)).toEqual([4, 8]);
    // The log holds steps 1-8 once each: the aborted run's entries past step 4 were dropped on resume.
    const steps = fs.readFileSync(path.join(dir, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).step);
    expect(steps).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it('a corrupt or mismatched checkpoint is an error naming the file and the problem', () => {
    const dir = tempDir('bad');
    new Trainer(goldenGpt2(), { trainDataset: countingData(4), batchSize: 2, maxSteps: 2, saveSteps: 2, outputDir: dir, progress: false }).train();
    const ckpt = path.join(dir, 'checkpoint-2');
    expect(() => new Trainer(goldenGpt2(), { trainDataset: countingData(4), batchSize: 2, maxSteps: 3, outputDir: dir, resumeFromCheckpoint: ckpt, progress: false }).train())
      .toThrow(/run of 2 steps, this one plans 3/);
    fs.writeFileSync(path.join(ckpt, 'trainer_state.json'), '{"format": "peftjs-trainer", "version": 1}');
    expect(() => new Trainer(goldenGpt2(), { trainDataset: countingData(4), batchSize: 2, maxSteps: 2, outputDir: dir, resumeFromCheckpoint: ckpt, progress: false }).train())
      .toThrow(/trainer state file .*trainer_state\.json: 'globalStep' must be a non-negative integer/);
    expect(() => new Trainer(goldenGpt2(), { trainDataset: countingData(4), outputDir: tempDir('none'), resumeFromCheckpoint: true, progress: false }).train())
      .toThrow(/no checkpoint-<step> folder/);
  });
});
