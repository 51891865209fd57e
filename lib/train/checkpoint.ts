/**
 * What a checkpoint folder holds and how it is read back:
 *   adapter_config.json + adapter_model.safetensors  the adapters of a PeftModel (savePretrained's layout;
 *                                                    only the trainable weights), or
 *   model.safetensors                                the full model (tied weights stored once)
 *   adalora_allocator.safetensors                    an AdaLoRA adapter's importance averages (RankAllocator)
 *   optimizer.safetensors                            the optimizer's state (lib/optim saveState)
 *   trainer_state.json                               step, epoch, data position, random streams, scheduler,
 *                                                    early stopping
 * Everything a resumed run needs to continue exactly where the uninterrupted run was.
 */
import * as fs from 'fs';
import * as path from 'path';
import { writeFileAtomic } from '../io/atomic';
import { FileFormatError } from '../io/errors';
import { SafetensorsFile } from '../io/safetensors_read';
import { saveSafetensors } from '../io/safetensors_write';
import type { Module } from '../nn/module';
import { PeftModel } from '../peft/peft_model';
import { loadAdapterWeights } from '../peft/save_load';
import { rankAllocatorOf, withFullRankAdaLora } from '../peft/tuners/adalora/tuner';
import type { LRSchedulerState } from '../optim/lr_scheduler';
import { fromArray, type RandomState } from '../tensor/creation';
import type { Tensor } from '../tensor/tensor';
import type { EarlyStoppingState } from './early_stopping';

export const TRAINER_STATE = 'trainer_state.json';
export const OPTIMIZER_STATE = 'optimizer.safetensors';
export const MODEL_WEIGHTS = 'model.safetensors';
export const ADALORA_ALLOCATOR_STATE = 'adalora_allocator.safetensors';
const FORMAT = 'peftjs-trainer';
const VERSION = 1;

export interface TrainerState {
  /** Optimizer steps done. */
  globalStep: number;
  /** The epoch in progress (0-based) and the next batch of it. */
  epoch: number;
  batchInEpoch: number;
  /** The shuffle generator's state the epoch's order is drawn from. */
  shuffleState: number;
  /** The global tensor random stream (dropout masks). */
  randomState: RandomState;
  /** Registered seed counters (LoRA dropout, ...). */
  seedCounters: Record<string, number>;
  scheduler: LRSchedulerState;
  earlyStopping: EarlyStoppingState | null;
  /** The run's planned total steps (checked on resume: a different plan changes the schedule). */
  totalSteps: number;
  /** The run's first finite loss, so a resumed run can still report where the whole run started (null: none yet). */
  firstLoss: number | null;
  /** Steps skipped so far for a non-finite loss or gradient norm (TrainerOptions.skipNonFiniteSteps). */
  skippedNonFiniteSteps: number;
  /**
   * The data-parallel world that wrote the checkpoint (1: a single process) and its per-rank batch size
   * (null in checkpoints written before it was recorded): batchInEpoch counts global batches of
   * worldSize * batchSize examples, which is how a resume at another size finds its place in the epoch
   * (lib/train/data_position.ts).
   */
  worldSize: number;
  batchSize: number | null;
  /**
   * Each rank's random streams ([r]: rank r's), for a distributed run: dropout draws as many numbers as the
   * rank's batch holds, so ranks' streams part ways and a bit-exact resume at the same world size restores
   * every rank's own. Null for a single process (randomState and seedCounters are its streams).
   */
  rankRandom: RankRandom[] | null;
}

/** One rank's random streams in a distributed checkpoint. */
export interface RankRandom {
  randomState: RandomState;
  seedCounters: Record<string, number>;
}

/** Writes the model's weights into a checkpoint folder: adapters for a PeftModel, else every parameter. */
export function saveModelWeights(model: Module, dir: string): void {
  if (model instanceof PeftModel) {
    withFullRankAdaLora(model, () => model.savePretrained(dir));
    saveAllocatorState(model, dir);
    return;
  }
  const tensors: Record<string, Tensor> = Object.fromEntries(model.namedParameters());
  saveSafetensors(path.join(dir, MODEL_WEIGHTS), tensors, { format: 'pt' });
}

/** Reads saveModelWeights' files back into the same model. */
export function loadModelWeights(model: Module, dir: string): void {
  if (model instanceof PeftModel) {
    for (const name of model.peftConfig.keys()) loadAdapterWeights(model, name, name === 'default' ? dir : path.join(dir, name));
    loadAllocatorState(model, dir);
    return;
  }
  const file = path.join(dir, MODEL_WEIGHTS);
  if (!fs.existsSync(file)) throw new Error(`loading a checkpoint: ${file} does not exist`);
  const st = SafetensorsFile.open(file);
  const loaded = new Map<string, Tensor>();
  try {
    for (const k of st.names()) loaded.set(k, st.load(k));
    // Tied weights were written once, under their first name; the other names alias the same tensor.
    const own = new Map(model.namedParameters());
    const missing = [...own.keys()].filter((k) => !loaded.has(k));
    const unexpected = [...loaded.keys()].filter((k) => !own.has(k));
    if (missing.length || unexpected.length)
      throw new FileFormatError('checkpoint weights', file, `${missing.length} missing (${missing.slice(0, 5).join(', ')}), ${unexpected.length} unexpected (${unexpected.slice(0, 5).join(', ')})`);
    model.loadStateDict(loaded, { strict: false });
  } finally {
    for (const t of loaded.values()) t.dispose();
    st.close();
  }
}

/** The training AdaLoRA adapter's importance averages, when it has any yet. */
function saveAllocatorState(model: PeftModel, dir: string): void {
  const state = rankAllocatorOf(model)?.state();
  if (!state || state.size === 0) return;
  const tensors: Record<string, Tensor> = {};
  for (const [k, v] of state) tensors[k] = fromArray(v, [v.length]);
  try {
    saveSafetensors(path.join(dir, ADALORA_ALLOCATOR_STATE), tensors, { format: 'pt' });
  } finally {
    for (const t of Object.values(tensors)) t.dispose();
  }
}

/**
 * Reads saveAllocatorState's file back. A checkpoint without it (written before the averages were saved, or
 * before the first optimizer step) leaves them at zero, as a fresh allocator starts.
 */
function loadAllocatorState(model: PeftModel, dir: string): void {
  const allocator = rankAllocatorOf(model), file = path.join(dir, ADALORA_ALLOCATOR_STATE);
  if (!allocator || !fs.existsSync(file)) return;
  const st = SafetensorsFile.open(file);
  try {
    const entries = new Map<string, Float32Array>();
    for (const k of st.names()) {
      const t = st.load(k);
      entries.set(k, t.toFloat32Array());
      t.dispose();
    }
    allocator.loadState(entries, model.model, file);
  } catch (e) {
    throw e instanceof FileFormatError ? e : new FileFormatError('AdaLoRA allocator state', file, (e as Error).message);
  } finally {
    st.close();
  }
}

export function writeTrainerState(dir: string, s: TrainerState): void {
  const text = JSON.stringify({ format: FORMAT, version: VERSION, ...s }, null, 2) + '\n';
  writeFileAtomic(path.join(dir, TRAINER_STATE), (fd) => fs.writeSync(fd, text));
}

export function readTrainerState(dir: string): TrainerState {
  const file = path.join(dir, TRAINER_STATE);
  if (!fs.existsSync(file)) throw new Error(`loading a checkpoint: ${file} does not exist (is ${dir} a checkpoint folder?)`);
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new FileFormatError('trainer state', file, (e as Error).message);
  }
  const bad = (what: string): never => {
    throw new FileFormatError('trainer state', file, what);
  };
  if (typeof raw !== 'object' || raw === null) bad('expected a JSON object');
  if (raw.format !== FORMAT) bad(`format is ${JSON.stringify(raw.format)}, expected "${FORMAT}"`);
  if (raw.version !== VERSION) bad(`version ${JSON.stringify(raw.version)} is not supported (expected ${VERSION})`);
  for (const k of ['globalStep', 'epoch', 'batchInEpoch', 'shuffleState', 'totalSteps'])
    if (!Number.isInteger(raw[k]) || (raw[k] as number) < 0) bad(`'${k}' must be a non-negative integer, got ${JSON.stringify(raw[k])}`);
  // Ranges as the setters that take these values check them, so a bad file is refused here, by name.
  if ((raw.shuffleState as number) >= 2 ** 32) bad(`'shuffleState' must be below 2^32, got ${raw.shuffleState}`);
  const checkStreams = (where: string, r: RandomState | undefined, counters: unknown) => {
    if (!r || !Number.isInteger(r.seed) || r.seed < 0 || r.seed >= 2 ** 48 || !Number.isSafeInteger(r.offset) || r.offset < 0 || r.offset % 4 !== 0)
      bad(`'${where}randomState' must be {seed: an integer in [0, 2^48), offset: a non-negative multiple of 4}, got ${JSON.stringify(r)}`);
    if (typeof counters !== 'object' || counters === null || Array.isArray(counters)) bad(`'${where}seedCounters' must be an object`);
    for (const [name, value] of Object.entries(counters as Record<string, unknown>))
      if (!Number.isSafeInteger(value) || (value as number) < 0) bad(`${where}seed counter '${name}' must be a non-negative integer, got ${JSON.stringify(value)}`);
  };
  checkStreams('', raw.randomState as RandomState | undefined, raw.seedCounters);
  // worldSize, batchSize and rankRandom came with distributed training: older checkpoints are a single process's.
  if (raw.worldSize !== undefined && (!Number.isInteger(raw.worldSize) || (raw.worldSize as number) < 1)) bad(`'worldSize' must be a positive integer, got ${JSON.stringify(raw.worldSize)}`);
  if (raw.batchSize !== undefined && raw.batchSize !== null && (!Number.isInteger(raw.batchSize) || (raw.batchSize as number) < 1))
    bad(`'batchSize' must be a positive integer or null, got ${JSON.stringify(raw.batchSize)}`);
  if (raw.rankRandom !== undefined && raw.rankRandom !== null) {
    const rr = raw.rankRandom as RankRandom[];
    if (!Array.isArray(rr) || rr.length !== ((raw.worldSize as number | undefined) ?? 1))
      bad(`'rankRandom' must be null or an array of one {randomState, seedCounters} per rank (worldSize ${JSON.stringify(raw.worldSize ?? 1)}), got ${JSON.stringify(rr)?.slice(0, 200)}`);
    rr.forEach((x, r) => checkStreams(`rankRandom[${r}].`, x?.randomState, x?.seedCounters));
  }
  const sch = raw.scheduler as LRSchedulerState | undefined;
  if (!sch || !Number.isInteger(sch.lastStep) || !Array.isArray(sch.baseLrs)) bad(`'scheduler' must be {lastStep, baseLrs}, got ${JSON.stringify(sch)}`);
  const es = raw.earlyStopping as EarlyStoppingState | null | undefined;
  if (es !== null && (typeof es !== 'object' || !Number.isInteger(es.badEvals))) bad(`'earlyStopping' must be null or {best, badEvals}`);
  // firstLoss and skippedNonFiniteSteps came later: checkpoints written before them lack them (same version).
  if (raw.firstLoss !== undefined && raw.firstLoss !== null && !Number.isFinite(raw.firstLoss)) bad(`'firstLoss' must be a finite number or null, got ${JSON.stringify(raw.firstLoss)}`);
  if (raw.skippedNonFiniteSteps !== undefined && (!Number.isInteger(raw.skippedNonFiniteSteps) || (raw.skippedNonFiniteSteps as number) < 0))
    bad(`'skippedNonFiniteSteps' must be a non-negative integer, got ${JSON.stringify(raw.skippedNonFiniteSteps)}`);
  const { format: _f, version: _v, ...state } = raw;
  return { firstLoss: null, skippedNonFiniteSteps: 0, worldSize: 1, batchSize: null, rankRandom: null, ...state } as unknown as TrainerState;
}
