/** The Trainer's options, with HF TrainingArguments' defaults where HF has one, and their checks. */
import type { Tokenizer } from '../io/tokenizer';
import type { Optimizer } from '../optim/optimizer';
import type { ScheduleName } from '../optim/schedules';
import type { PeftParamGroup } from '../peft/config';
import type { Tensor } from '../tensor/tensor';
import type { TaskKind } from './data/collate';
import type { TokenizedExample } from './data/tokenize';
import type { EarlyStoppingOptions } from './early_stopping';
import type { LogEntry } from './train_log';
import type { ProgressStream } from './progress';

export interface TrainerOptions {
  trainDataset: TokenizedExample[];
  evalDataset?: TokenizedExample[];
  /** Inferred from the model (BERT: seq_cls; the rest: causal_lm). */
  task?: TaskKind;
  /** Supplies the pad id when padId is not given. */
  tokenizer?: Tokenizer | null;
  padId?: number;
  /** Examples per micro-batch. Default 8. */
  batchSize?: number;
  evalBatchSize?: number;
  /** Micro-batches per optimizer step. Default 1. */
  gradientAccumulationSteps?: number;
  /** Passes over the data (default 1); maxSteps, when given, decides instead. */
  epochs?: number;
  maxSteps?: number;
  /** AdamW over the trainable parameters (lr default 5e-5, weightDecay 0, HF's defaults). */
  lr?: number;
  weightDecay?: number;
  betas?: [number, number];
  eps?: number;
  /** Parameter groups besides those the PEFT config asks for (PeftConfig.optimizerParamGroups). */
  paramGroups?: PeftParamGroup[];
  /** Build another optimizer over the groups instead of AdamW. */
  optimizer?: (groups: { params: Tensor[]; lr?: number; weightDecay?: number }[]) => Optimizer<{ lr: number }>;
  /** Default 'linear' (HF's), with warmupSteps (default 0). */
  scheduler?: ScheduleName;
  warmupSteps?: number;
  /** Clip the gradients' global norm (default 1.0, HF's); 0 or Infinity: no clipping. */
  maxGradNorm?: number;
  /**
   * A step whose loss (or, when clipping, gradient norm) is NaN or infinite: false (default) stops training
   * with a NonFiniteLossError naming the step; true skips it (no optimizer update, its gradients dropped; the
   * step still uses up its batches and moves the schedule on), counts it in the log's
   * skipped_nonfinite_steps and TrainResult.skippedNonFiniteSteps, and carries on.
   */
  skipNonFiniteSteps?: boolean;
  /**
   * Shuffle the training set every epoch (default true). `seed` (default 42) seeds the shuffling and, when a
   * fresh run starts, the dropout streams (manualSeed and the seed counters, as HF's set_seed).
   */
  shuffle?: boolean;
  seed?: number;
  /** Log every N steps (default 1). */
  loggingSteps?: number;
  /** Evaluate every N steps (and at the end) when an evalDataset is given; default: only at the end. */
  evalSteps?: number;
  earlyStopping?: EarlyStoppingOptions;
  /** Where checkpoints, the log (log.jsonl) and the loss curve (log.svg) go. */
  outputDir?: string;
  /** Checkpoint every N steps (needs outputDir); default never. */
  saveSteps?: number;
  /** Keep the newest K checkpoints (default all). */
  saveTotalLimit?: number;
  /** A checkpoint folder, or true for the newest in outputDir. */
  resumeFromCheckpoint?: string | true;
  /** JSONL log path (default outputDir/log.jsonl; none without outputDir). The SVG goes beside it. */
  logFile?: string | null;
  /** Progress on stderr (default true), or another stream, or false. */
  progress?: boolean | ProgressStream;
  /** Called with each log entry (on every rank of a distributed run). */
  onLog?: (e: LogEntry) => void;
  /**
   * Data-parallel training over MPI (lib/train/distributed.ts): batchSize is then per rank, and only rank 0
   * writes the log, progress and checkpoints. Default: on when an MPI launcher (mpirun) started more than one
   * process; false: never; true: always initialise MPI.
   */
  distributed?: boolean;
}

function positiveInt(name: string, v: unknown): void {
  if (v !== undefined && (!Number.isInteger(v) || (v as number) < 1)) throw new RangeError(`Trainer: ${name} must be a positive integer, got ${String(v)}`);
}

export function checkOptions(o: TrainerOptions): void {
  if (!Array.isArray(o.trainDataset) || o.trainDataset.length === 0) throw new RangeError('Trainer: trainDataset must be a non-empty array of tokenized examples');
  if (o.evalDataset !== undefined && !Array.isArray(o.evalDataset)) throw new TypeError('Trainer: evalDataset must be an array of tokenized examples');
  for (const k of ['batchSize', 'evalBatchSize', 'gradientAccumulationSteps', 'epochs', 'maxSteps', 'loggingSteps', 'evalSteps', 'saveSteps', 'saveTotalLimit'] as const) positiveInt(k, o[k]);
  if (o.lr !== undefined && !(o.lr >= 0)) throw new RangeError(`Trainer: lr must be >= 0, got ${String(o.lr)}`);
  if (o.maxGradNorm !== undefined && !(o.maxGradNorm >= 0)) throw new RangeError(`Trainer: maxGradNorm must be >= 0, got ${String(o.maxGradNorm)}`);
  if (o.skipNonFiniteSteps !== undefined && typeof o.skipNonFiniteSteps !== 'boolean') throw new TypeError(`Trainer: skipNonFiniteSteps must be a boolean, got ${String(o.skipNonFiniteSteps)}`);
  if (o.distributed !== undefined && typeof o.distributed !== 'boolean') throw new TypeError(`Trainer: distributed must be a boolean, got ${String(o.distributed)}`);
  if (o.saveSteps !== undefined && !o.outputDir) throw new Error('Trainer: saveSteps needs an outputDir');
  if (o.resumeFromCheckpoint === true && !o.outputDir) throw new Error('Trainer: resumeFromCheckpoint: true needs an outputDir');
  if (o.earlyStopping && (!o.evalDataset || o.evalDataset.length === 0)) throw new Error('Trainer: earlyStopping needs an evalDataset');
  if (o.seed !== undefined && (!Number.isInteger(o.seed) || o.seed < 0 || o.seed >= 2 ** 32)) throw new RangeError(`Trainer: seed must be an integer in [0, 2^32), got ${o.seed}`);
}
