/**
 * Trainer: fine-tunes a causal LM or a sequence classifier (a model of lib/nn/models, plain or wrapped in a
 * PeftModel) as HF's Trainer does: shuffled padded batches, gradient accumulation, AdamW over the trainable
 * parameters with a learning-rate schedule and gradient clipping, evaluation, early stopping, a JSONL log,
 * a loss curve, and checkpoints from which a resumed run continues bit for bit as if never interrupted.
 *
 * Determinism: the data order comes from its own generator (ShuffleRng), dropout from the global tensor
 * stream and the registered seed counters; a fresh run seeds all three from opts.seed (as HF's set_seed),
 * and all three are saved in each checkpoint. Evaluation draws from
 * none of them. Micro-batches are weighted by their share of the loss terms of the whole accumulation
 * window, so accumulated gradients equal those of one large batch (padding or not).
 *
 * Non-finite values: a step whose loss (or, when clipping, gradient norm) is NaN or infinite stops the run
 * with a NonFiniteLossError, or is skipped with opts.skipNonFiniteSteps; a checkpoint is never written from
 * parameters holding NaN or Inf, so the last good one stays the newest.
 */
import * as fs from 'fs';
import * as path from 'path';
import { writeFileAtomic } from '../io/atomic';
import type { Module } from '../nn/module';
import { AdamW } from '../optim/adamw';
import { clipGradNorm } from '../optim/clip_grad';
import { getScheduler, type LRScheduler } from '../optim/lr_scheduler';
import type { Optimizer } from '../optim/optimizer';
import { getRandomState, manualSeed, setRandomState } from '../tensor/creation';
import { scale } from '../tensor/ops';
import { tidy } from '../tensor/scope';
import { getSeedCounters, resetSeedCounters, setSeedCounters } from '../tensor/seed_counters';
import type { Tensor } from '../tensor/tensor';
import { OPTIMIZER_STATE, loadModelWeights, type RankRandom, readTrainerState, saveModelWeights, type TrainerState, writeTrainerState } from './checkpoint';
import { CHECKPOINT_PREFIX, latestCheckpoint, removeStaleTemporaries, writeCheckpointFolder } from './checkpoint_folder';
import { collate, type Batch, type TaskKind } from './data/collate';
import { ShuffleRng } from './data/shuffle';
import { mapDataPosition } from './data_position';
import { DataParallel, emptyBatch } from './distributed';
import { EarlyStopping } from './early_stopping';
import { evaluate } from './evaluate';
import { numLabelsOf, padIdOf, runModel, taskOf, vocabSizeOf } from './model_kind';
import { PeftModel } from '../peft/peft_model';
import { firstNonFiniteParameter, NonFiniteLossError } from './non_finite';
import { checkOptions, type TrainerOptions } from './options';
import { buildParamGroups } from './param_groups';
import { plotLossSvg } from './plot_svg';
import { ProgressBar, type ProgressStream } from './progress';
import { type LogEntry, TrainLog } from './train_log';

export interface TrainResult {
  globalStep: number;
  /** Epochs done, fractional mid-epoch. */
  epoch: number;
  /** This run's loss at every step that updated the parameters (a resumed run: from the checkpoint's step on). */
  stepLosses: { step: number; loss: number }[];
  /** The whole run's first finite loss (a resumed run: from its checkpoint; null for one of an older version). */
  firstLoss: number | null;
  /** Steps skipped for a non-finite loss or gradient norm, over the whole run (opts.skipNonFiniteSteps). */
  skippedNonFiniteSteps: number;
  /** The last evaluation's metrics, if any. */
  lastEval: Record<string, number> | null;
  stoppedEarly: boolean;
  /** Every log entry of the run, earlier ones of a resumed run included. */
  log: LogEntry[];
}

export class Trainer {
  readonly task: TaskKind;
  readonly padId: number;
  readonly optimizer: Optimizer<{ lr: number }>;
  readonly scheduler: LRScheduler;
  readonly totalSteps: number;
  readonly batchesPerEpoch: number;
  private readonly opts: Required<Pick<TrainerOptions, 'batchSize' | 'gradientAccumulationSteps' | 'maxGradNorm' | 'loggingSteps'>> & TrainerOptions;
  private readonly params: Tensor[];
  private readonly rng: ShuffleRng;
  private readonly early: EarlyStopping | null;
  private readonly log: TrainLog;
  /** The data-parallel world (null: a single process). */
  private readonly dp: DataParallel | null;
  private globalStep = 0;
  private epoch = 0;
  private batchInEpoch = 0;
  private order: number[] | null = null;
  private epochShuffleState = 0;
  private firstLoss: number | null = null;
  private skippedNonFiniteSteps = 0;
  /** The last step updated from a finite loss (null: none yet), named when a non-finite one stops the run. */
  private lastFiniteStep: number | null = null;

  constructor(readonly model: Module, options: TrainerOptions) {
    checkOptions(options);
    this.opts = { batchSize: 8, gradientAccumulationSteps: 1, maxGradNorm: 1.0, loggingSteps: 1, ...options };
    const o = this.opts;
    this.task = o.task ?? taskOf(model);
    this.padId = padIdOf(model, o.tokenizer, o.padId);
    const vocab = vocabSizeOf(model);
    if (vocab !== null && !(this.padId >= 0 && this.padId < vocab))
      throw new RangeError(`Trainer: the pad id ${this.padId} is outside the model's vocabulary [0, ${vocab}) (it comes from ${o.padId !== undefined ? 'padId' : 'the tokenizer or the config\'s pad/eos token id'}); pass padId`);
    this.dp = DataParallel.fromOption(o.distributed);
    this.batchesPerEpoch = this.dp ? this.dp.batchesPerEpoch(o.trainDataset.length, o.batchSize) : Math.ceil(o.trainDataset.length / o.batchSize);
    const stepsPerEpoch = Math.ceil(this.batchesPerEpoch / o.gradientAccumulationSteps);
    this.totalSteps = o.maxSteps ?? (o.epochs ?? 1) * stepsPerEpoch;
    const groups = buildParamGroups(model, o.paramGroups);
    this.params = groups.flatMap((g) => g.params);
    const specs = groups.map((g) => {
      const s: { params: Tensor[]; lr?: number; weightDecay?: number } = { params: g.params };
      if (g.lr !== undefined) s.lr = g.lr;
      if (g.weightDecay !== undefined) s.weightDecay = g.weightDecay;
      return s;
    });
    this.optimizer = o.optimizer
      ? o.optimizer(specs)
      : (new AdamW(specs, { lr: o.lr ?? 5e-5, weightDecay: o.weightDecay ?? 0, ...(o.betas ? { betas: o.betas } : {}), ...(o.eps !== undefined ? { eps: o.eps } : {}) }) as unknown as Optimizer<{ lr: number }>);
    const schedule = o.scheduler ?? 'linear';
    this.scheduler = getScheduler(schedule, this.optimizer, { warmupSteps: o.warmupSteps ?? 0, totalSteps: this.totalSteps });
    this.rng = new ShuffleRng(o.seed ?? 42);
    this.early = o.earlyStopping ? new EarlyStopping(o.earlyStopping) : null;
    const logFile = o.logFile !== undefined ? o.logFile : o.outputDir ? path.join(o.outputDir, 'log.jsonl') : null;
    this.log = new TrainLog(this.dp && !this.dp.isMain ? null : logFile);
  }

  /** The loss curve's path: the log's, with .svg for .jsonl. */
  get svgFile(): string | null {
    const f = this.log.file;
    return f === null ? null : f.replace(/\.jsonl$/, '') + '.svg';
  }

  get step(): number {
    return this.globalStep;
  }

  /** Runs training to totalSteps (or an early stop) from the start or from opts.resumeFromCheckpoint. */
  train(): TrainResult {
    const o = this.opts;
    // Find the checkpoint before creating any folder: a failed resume leaves nothing behind.
    const resumeDir = o.resumeFromCheckpoint === true ? latestCheckpoint(o.outputDir!)?.dir : o.resumeFromCheckpoint;
    if (o.resumeFromCheckpoint !== undefined && !resumeDir) throw new Error(`Trainer: resumeFromCheckpoint: no checkpoint-<step> folder in ${o.outputDir}`);
    if (o.outputDir) fs.mkdirSync(o.outputDir, { recursive: true });
    if (o.logFile) fs.mkdirSync(path.dirname(o.logFile), { recursive: true });
    if (resumeDir) {
      // What a run killed mid-save left: gone before this run saves (and even if it never does).
      if (o.outputDir && (!this.dp || this.dp.isMain)) removeStaleTemporaries(o.outputDir);
      this.loadCheckpoint(resumeDir);
      this.log.resumeAt(this.globalStep);
    } else if (this.globalStep === 0) {
      // HF's set_seed: a fresh run seeds the dropout streams too, so the same seed gives the same run.
      manualSeed(this.opts.seed ?? 42);
      resetSeedCounters();
      this.log.reset();
    }
    this.dp?.start(this.model, this.params, o, [['total steps', this.totalSteps], ['global step', this.globalStep], ['batch in epoch', this.batchInEpoch]]);
    this.model.train();
    const progress = this.progressBar();
    const stepLosses: { step: number; loss: number }[] = [];
    let window: number[] = [];
    let gradNorm: number | null = null;
    let lastEval: Record<string, number> | null = null;
    let lastEvalStep = -1;
    let stoppedEarly = false;
    let tokensThisRun = 0;
    while (this.globalStep < this.totalSteps && !stoppedEarly) {
      const lr = this.optimizer.paramGroups[0].lr;
      const r = this.trainStep();
      tokensThisRun += r.tokens;
      gradNorm = r.gradNorm;
      const step = this.globalStep;
      if (r.skipped) progress?.bar.message(`${r.skipped}: step skipped (skipNonFiniteSteps)`);
      else {
        // A skipped step's loss stays out of the logged mean (HF's logging_nan_inf_filter) and out of stepLosses.
        stepLosses.push({ step, loss: r.loss });
        window.push(r.loss);
      }
      if (step % o.loggingSteps === 0 || step === this.totalSteps) {
        const mean = window.reduce((a, b) => a + b, 0) / window.length;
        const entry: LogEntry = { step, epoch: this.epochProgress(), loss: Number.isFinite(mean) ? mean : null, lr, grad_norm: gradNorm };
        if (o.skipNonFiniteSteps) entry.skipped_nonfinite_steps = this.skippedNonFiniteSteps;
        this.record(entry);
        window = [];
        if (progress && !progress.stream.isTTY) progress.bar.update({ step, loss: mean, tokens: tokensThisRun });
      }
      if (progress?.stream.isTTY) progress.bar.update({ step, loss: r.loss, tokens: tokensThisRun });
      if (o.evalDataset && o.evalDataset.length > 0 && o.evalSteps !== undefined && step % o.evalSteps === 0) {
        lastEval = this.runEval(progress?.bar);
        lastEvalStep = step;
        if (this.early?.update(lastEval)) stoppedEarly = true;
      }
      if (o.saveSteps !== undefined && step % o.saveSteps === 0) this.saveCheckpoint();
    }
    if (o.evalDataset && o.evalDataset.length > 0 && lastEvalStep !== this.globalStep) lastEval = this.runEval(progress?.bar);
    progress?.bar.finish();
    this.writeSvg();
    return {
      globalStep: this.globalStep, epoch: this.epochProgress(), stepLosses, firstLoss: this.firstLoss, skippedNonFiniteSteps: this.skippedNonFiniteSteps,
      lastEval, stoppedEarly, log: [...this.log.entries],
    };
  }

  /** Evaluates on opts.evalDataset now. */
  evaluate(): Record<string, number> {
    const o = this.opts;
    if (!o.evalDataset || o.evalDataset.length === 0) throw new Error('Trainer.evaluate: no evalDataset');
    return evaluate(this.model, o.evalDataset, { task: this.task, padId: this.padId, batchSize: o.evalBatchSize ?? o.batchSize, numLabels: numLabelsOf(this.model) });
  }

  /**
   * Writes checkpoint-<step> into outputDir (atomically; older ones beyond saveTotalLimit removed). Refuses
   * when a trainable parameter holds NaN or Inf: such a checkpoint would become the newest, the one a resume
   * picks, and saveTotalLimit could remove the last good one to make room for it.
   */
  saveCheckpoint(): string {
    const o = this.opts;
    if (!o.outputDir) throw new Error('Trainer.saveCheckpoint: no outputDir');
    const bad = this.nonFiniteParameter();
    if (bad !== null) {
      const kept = latestCheckpoint(o.outputDir);
      throw new Error(`Trainer: not saving checkpoint-${this.globalStep}: the trainable parameter ${bad} holds NaN or Inf values ` +
        `(${kept ? `the newest checkpoint, ${path.basename(kept.dir)}, is kept` : 'there is no earlier checkpoint'})`);
    }
    // Collective: every rank's random streams go into rank 0's trainer state.
    const rankRandom = this.dp ? this.dp.gatherRandomStreams() : null;
    if (this.dp && !this.dp.isMain) {
      // Rank 0 writes; the barrier makes the checkpoint exist once any rank is past this step.
      this.dp.barrier();
      return path.join(o.outputDir, `${CHECKPOINT_PREFIX}${this.globalStep}`);
    }
    const dir = writeCheckpointFolder(o.outputDir, this.globalStep, (d) => {
      saveModelWeights(this.model, d);
      this.optimizer.saveState(path.join(d, OPTIMIZER_STATE));
      writeTrainerState(d, this.state(rankRandom));
    }, o.saveTotalLimit);
    this.dp?.barrier();
    return dir;
  }

  /** The name of a trainable parameter holding NaN or Inf, or null when all are finite. */
  nonFiniteParameter(): string | null {
    const trainable = new Set(this.params);
    return firstNonFiniteParameter(this.model.namedParameters().filter(([, t]) => trainable.has(t)));
  }

  /**
   * Restores a checkpoint of this same run (same model, data and plan). The world size and per-rank batch
   * size may differ from the run that wrote it: the position in the epoch then maps through the global
   * batch (lib/train/data_position.ts); at the same world size every rank gets its own random streams
   * back, so the resumed run is the uninterrupted one bit for bit.
   */
  loadCheckpoint(dir: string): void {
    const s = readTrainerState(dir);
    const o = this.opts;
    const worldSize = this.dp?.size ?? 1;
    // Checkpoints from before batchSize was recorded: taken to be of this run's global batch, as they were then.
    const saved = { worldSize: s.batchSize === null ? worldSize : s.worldSize, batchSize: s.batchSize ?? o.batchSize };
    const sameBatches = saved.worldSize * saved.batchSize === worldSize * o.batchSize;
    const runs = (w: number, b: number) => `${w} rank${w === 1 ? '' : 's'} x batch ${b}`;
    if (s.totalSteps !== this.totalSteps)
      throw new Error(`Trainer: checkpoint ${dir} is of a run of ${s.totalSteps} steps, this one plans ${this.totalSteps} (same data, batch size, epochs or maxSteps needed` +
        (sameBatches ? ')' : `; it was written by ${runs(saved.worldSize, saved.batchSize)}, this run is ${runs(worldSize, o.batchSize)}: pass maxSteps: ${s.totalSteps} to continue its plan at the new size)`));
    let position = { batchInEpoch: s.batchInEpoch, nextEpoch: false, skipped: 0 };
    if (sameBatches) {
      if (s.batchInEpoch >= this.batchesPerEpoch)
        throw new Error(`Trainer: checkpoint ${dir} is at batch ${s.batchInEpoch} of an epoch, this dataset has ${this.batchesPerEpoch} batches per epoch`);
    } else {
      position = mapDataPosition(s.batchInEpoch, saved, { worldSize, batchSize: o.batchSize }, o.trainDataset.length);
      if (position.skipped > 0 && (!this.dp || this.dp.isMain))
        process.stderr.write(`peftjs: resuming ${dir} (written by ${runs(saved.worldSize, saved.batchSize)}) as ${runs(worldSize, o.batchSize)}: ` +
          `${position.skipped} example(s) of epoch ${s.epoch} skipped to start at a whole global batch of ${worldSize * o.batchSize}\n`);
    }
    loadModelWeights(this.model, dir);
    this.optimizer.loadState(path.join(dir, OPTIMIZER_STATE));
    this.scheduler.loadStateDict(s.scheduler);
    const own = s.rankRandom && s.rankRandom.length === worldSize ? s.rankRandom[this.dp?.rank ?? 0] : s;
    setRandomState(own.randomState);
    setSeedCounters(own.seedCounters);
    this.rng.state = s.shuffleState;
    this.order = null;
    this.globalStep = s.globalStep;
    this.epoch = s.epoch;
    this.batchInEpoch = position.batchInEpoch;
    if (position.nextEpoch) {
      // Draw the saved epoch's order (advancing the shuffle generator as that epoch did), then leave it.
      this.epochOrder();
      this.order = null;
      this.epoch++;
    }
    this.firstLoss = s.firstLoss;
    this.skippedNonFiniteSteps = s.skippedNonFiniteSteps;
    // Checkpoints are only written from finite parameters, so the run was sound at least up to here.
    this.lastFiniteStep = s.globalStep > 0 ? s.globalStep : null;
    if (this.early && s.earlyStopping) this.early.state = s.earlyStopping;
  }

  private state(rankRandom: RankRandom[] | null = null): TrainerState {
    return {
      globalStep: this.globalStep,
      epoch: this.epoch,
      batchInEpoch: this.batchInEpoch,
      shuffleState: this.order ? this.epochShuffleState : this.rng.state,
      randomState: getRandomState(),
      seedCounters: getSeedCounters(),
      scheduler: this.scheduler.stateDict(),
      earlyStopping: this.early ? this.early.state : null,
      totalSteps: this.totalSteps,
      firstLoss: this.firstLoss,
      skippedNonFiniteSteps: this.skippedNonFiniteSteps,
      worldSize: this.dp?.size ?? 1,
      batchSize: this.opts.batchSize,
      rankRandom,
    };
  }

  private epochProgress(): number {
    return this.epoch + this.batchInEpoch / this.batchesPerEpoch;
  }

  /** The epoch's example order, drawn when the epoch starts (or regenerated from the saved state on resume). */
  private epochOrder(): number[] {
    if (this.order === null) {
      const n = this.opts.trainDataset.length;
      this.epochShuffleState = this.rng.state;
      this.order = this.opts.shuffle === false ? Array.from({ length: n }, (_, i) => i) : this.rng.permutation(n);
    }
    return this.order;
  }

  private nextWindow(): Batch[] {
    const o = this.opts;
    const order = this.epochOrder();
    const count = Math.min(o.gradientAccumulationSteps, this.batchesPerEpoch - this.batchInEpoch);
    const batches: Batch[] = [];
    for (let k = 0; k < count; k++) {
      const at = this.dp ? this.dp.sliceStart(this.batchInEpoch + k, o.batchSize) : (this.batchInEpoch + k) * o.batchSize;
      const examples = order.slice(at, at + o.batchSize).map((i) => o.trainDataset[i]);
      batches.push(examples.length > 0 ? collate(examples, this.task, this.padId) : emptyBatch());
    }
    this.batchInEpoch += count;
    return batches;
  }

  /**
   * One optimizer step over an accumulation window; returns the window's mean loss over its loss terms, and
   * what was non-finite when the step was skipped (opts.skipNonFiniteSteps) instead of applied.
   */
  private trainStep(): { loss: number; tokens: number; gradNorm: number | null; skipped: string | null } {
    const windowStart = this.batchInEpoch;
    const batches = this.nextWindow();
    // Distributed: the world's loss terms, so each rank's gradients are its share of the global mean.
    const localTargets = batches.reduce((a, b) => a + b.targets, 0);
    const total = this.dp ? this.dp.sumCount(localTargets) : localTargets;
    let tokens = batches.reduce((a, b) => a + b.tokens, 0);
    let loss = 0;
    this.optimizer.zeroGrad();
    for (const b of batches) {
      if (b.targets === 0) continue;  // nothing to predict (one-token examples): no loss term, no gradient
      const w = b.targets / total;
      const value = tidy(() => {
        const out = runModel(this.model, { inputIds: b.inputIds, attentionMask: b.attentionMask, labels: b.labels });
        if (!out.loss) throw new Error('Trainer: the model returned no loss for labelled inputs');
        const v = out.loss.item();
        // Checked before backward: a non-finite loss teaches nothing, and its backward would only fill the gradients with NaN.
        if (Number.isFinite(v)) (w === 1 ? out.loss : scale(out.loss, w)).backward();
        return v;
      });
      loss += value * w;
      if (!Number.isFinite(value)) break;  // the window's loss is non-finite whatever its other batches give
    }
    if (this.dp) ({ loss, tokens } = this.dp.reduceStep(this.params, loss, tokens));
    // A window without loss terms has no loss (NaN, logged as null) but nothing went wrong: it steps as before.
    let bad: NonFiniteLossError | null = null;
    let gradNorm: number | null = null;
    if (total > 0 && !Number.isFinite(loss)) bad = new NonFiniteLossError(this.globalStep + 1, 'loss', loss, this.lastFiniteStep);
    const clip = this.opts.maxGradNorm;
    if (bad === null && clip > 0 && Number.isFinite(clip)) {
      gradNorm = clipGradNorm(this.params, clip);
      if (!Number.isFinite(gradNorm)) bad = new NonFiniteLossError(this.globalStep + 1, 'gradient norm', gradNorm, this.lastFiniteStep);
    }
    if (bad !== null && !this.opts.skipNonFiniteSteps) {
      // Leave the Trainer at its last good step (the window's batches not used up), so a checkpoint saved
      // after catching this error resumes just before the bad window.
      this.batchInEpoch = windowStart;
      this.optimizer.zeroGrad();
      throw bad;
    }
    if (bad === null) {
      this.optimizer.step();
      // AdaLoRA (HF's update_and_allocate): reads this step's gradients, so after step() and before zeroGrad().
      if (this.model instanceof PeftModel) this.model.rankAllocation()?.(this.globalStep);
      if (total > 0) {
        this.lastFiniteStep = this.globalStep + 1;
        this.firstLoss ??= loss;
      }
    } else this.skippedNonFiniteSteps++;
    // A skipped step still uses up its window and its place in the schedule, so the run keeps its plan
    // (totalSteps, epochs, the learning rate at each step) and resumes as any other.
    this.scheduler.step();
    this.optimizer.zeroGrad();
    this.globalStep++;
    if (this.batchInEpoch >= this.batchesPerEpoch) {
      this.epoch++;
      this.batchInEpoch = 0;
      this.order = null;
    }
    return { loss: total === 0 ? NaN : loss, tokens, gradNorm, skipped: bad?.headline ?? null };
  }

  private runEval(bar: ProgressBar | undefined): Record<string, number> {
    const metrics = this.evaluate();
    const entry: LogEntry = { step: this.globalStep, epoch: this.epochProgress() };
    for (const [k, v] of Object.entries(metrics)) entry[k] = Number.isFinite(v) ? v : null;
    this.record(entry);
    bar?.message(`step ${this.globalStep}: ${Object.entries(metrics).map(([k, v]) => `${k} ${v.toFixed(4)}`).join(', ')}`);
    this.writeSvg();
    return metrics;
  }

  private record(e: LogEntry): void {
    this.log.append(e);
    this.opts.onLog?.(e);
  }

  private writeSvg(): void {
    const file = this.svgFile;
    if (file === null) return;
    const pts = (key: string) => this.log.entries.filter((e) => typeof e[key] === 'number').map((e) => ({ step: e.step, value: e[key] as number }));
    const svg = plotLossSvg({ train: pts('loss'), eval: pts('eval_loss') }, { title: 'loss' });
    writeFileAtomic(file, (fd) => fs.writeSync(fd, svg));
  }

  private progressBar(): { bar: ProgressBar; stream: ProgressStream } | null {
    const p = this.opts.progress ?? true;
    if (p === false || (this.dp && !this.dp.isMain)) return null;
    const stream: ProgressStream = p === true ? process.stderr : p;
    return { bar: new ProgressBar(stream, this.totalSteps), stream };
  }
}
