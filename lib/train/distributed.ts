/**
 * Data parallelism for the Trainer over MPI (lib/dist), as PyTorch's DistributedDataParallel with a
 * DistributedSampler, arranged so that N ranks at batch size b train exactly as one process at batch N*b:
 *
 * - Start: every rank's model, adapter config, plan and data are compared (one all-gather) and a mismatch
 *   stops every rank with the same error naming the ranks; then the trainable parameters (all parameters for
 *   full fine-tuning) are broadcast from rank 0.
 * - Data: the epoch's shuffled order is the same on every rank (same seed); it is cut into global batches of
 *   N*b and rank r takes the r-th slice of b of each, i.e. the batches r, r+N, r+2N, ... of size b. Strided
 *   batches rather than one contiguous slice of the epoch per rank because then global batch k holds exactly
 *   the examples of the single process's batch k at batch size N*b (the equivalence above), a rank's
 *   position in the epoch is the same number on every rank, and shards stay balanced to one batch. A rank
 *   whose slice of the last global batch is empty takes part with no examples.
 * - Step: micro-batches are weighted by their loss terms over the whole world's window (one tiny all-reduce
 *   of the count), so each rank's gradients are its share of the global mean and their sum over ranks is the
 *   single process's gradient whatever the padding; the gradients, the loss and the token count are then
 *   summed in one bucketed all-reduce, once per optimizer step (not per micro-batch; cuda gradients in one
 *   NCCL group on the device where every rank has NCCL, lib/dist/nccl.ts). Every rank then holds
 *   the same gradients and loss, so clipping, the non-finite checks and the update agree everywhere.
 * - Output: only rank 0 writes the log, the progress bar and checkpoints (the Trainer asks isMain).
 */
import type { Module } from '../nn/module';
import { PeftModel } from '../peft/peft_model';
import { zeros } from '../tensor/creation';
import { keep } from '../tensor/scope';
import type { Tensor } from '../tensor/tensor';
import { backend } from '../backend';
import { allGatherIntegers, allReduceFlat, allReduceTensors, barrier, broadcastTensors, collectivePath, initDistributed, mpiLaunch, worldSize } from '../dist';
import type { Batch } from './data/collate';
import type { TokenizedExample } from './data/tokenize';
import type { TrainerOptions } from './options';
import type { RankRandom } from './checkpoint';
import { getRandomState } from '../tensor/creation';
import { getSeedCounters } from '../tensor/seed_counters';

/** What every rank must agree on before the first step: a name for the error, and the value. */
export type Agreement = [string, number][];

/** FNV-1a, 32 bits, over a string's UTF-16 code units or a list of integers: cheap, stable across ranks. */
export function fnv1a(input: string | Iterable<number>): number {
  let h = 0x811c9dc5;
  const mix = (x: number) => {
    h ^= x & 0xffff;
    h = Math.imul(h, 0x01000193) >>> 0;
    h ^= (x >>> 16) & 0xffff;
    h = Math.imul(h, 0x01000193) >>> 0;
  };
  if (typeof input === 'string') for (let i = 0; i < input.length; i++) mix(input.charCodeAt(i));
  else for (const x of input) mix(x | 0);
  return h >>> 0;
}

/** A micro-batch with no examples (a rank's empty slice of a short last batch): no loss terms, skipped. */
export function emptyBatch(): Batch {
  const none = { data: new Int32Array(0), shape: [0, 0] };
  return { inputIds: none, attentionMask: none, labels: none, targets: 0, tokens: 0 };
}

/**
 * What reduceStep has done so far (for the ddp_step bench row): calls, wall time, bytes reduced per rank.
 * Gradients reduced by NCCL count only their queuing in ms: the device runs them later, on its stream.
 */
export interface ReduceStats {
  calls: number;
  ms: number;
  bytes: number;
}

export class DataParallel {
  /** Cumulative: the all-reduce's share of a step is ms over the steps' time (bench/ddp_step.ts). */
  readonly reduceStats: ReduceStats = { calls: 0, ms: 0, bytes: 0 };

  private constructor(readonly rank: number, readonly size: number) {}

  /**
   * The data-parallel world for TrainerOptions.distributed: true initialises MPI (a process started without
   * a launcher is a world of one), false never does, undefined does when an MPI launcher started more than
   * one process. Null for a world of one: the Trainer then runs exactly as a single process.
   */
  static fromOption(option: boolean | undefined): DataParallel | null {
    if (option === false) return null;
    if (option === undefined) {
      const launch = mpiLaunch();
      if (launch === null || launch.size < 2) return null;
    }
    const w = initDistributed();
    return w.size > 1 ? new DataParallel(w.rank, w.size) : null;
  }

  get isMain(): boolean {
    return this.rank === 0;
  }

  /** Global batches (of size * batchSize examples) in an epoch of n examples. */
  batchesPerEpoch(n: number, batchSize: number): number {
    return Math.ceil(n / (batchSize * this.size));
  }

  /** Where this rank's slice of global batch k starts in the epoch's order. */
  sliceStart(k: number, batchSize: number): number {
    return (k * this.size + this.rank) * batchSize;
  }

  /**
   * Stops every rank, with the same error, when any rank's values differ from rank 0's. Every rank makes
   * the same single all-reduce whatever its values, so a mismatch cannot leave a rank waiting.
   */
  checkAgreement(what: Agreement): void {
    const all = allGatherIntegers(what.map(([, v]) => v));
    const problems: string[] = [];
    for (let r = 1; r < this.size; r++)
      what.forEach(([name], i) => {
        if (all[r][i] !== all[0][i]) problems.push(`rank ${r} has ${name} ${all[r][i]} where rank 0 has ${all[0][i]}`);
      });
    if (problems.length > 0)
      throw new Error(`Trainer (distributed, ${this.size} ranks): the ranks disagree on the model, adapter config, data or plan: ${problems.join('; ')}. ` +
        'Every rank must run the same script on the same model, adapter config, data and options.');
  }

  /**
   * The start of training: the agreement check, then rank 0's parameters everywhere (the trainable ones; for
   * full fine-tuning, every parameter, since no adapter file pins the rest).
   */
  start(model: Module, params: Tensor[], opts: TrainerOptions, position: Agreement): void {
    this.checkAgreement([...modelAgreement(model, params), ...position, ['options hash', optionsHash(opts)], ['training data hash', dataHash(opts.trainDataset)]]);
    const full = !(model instanceof PeftModel);
    const trainable = new Set(params);
    const rest = full ? model.parameters().filter((p) => !trainable.has(p)) : [];
    broadcastTensors([...params, ...rest], 0);
  }

  /** The sum of a count over all ranks (the window's loss terms, which weight the micro-batches). */
  sumCount(n: number): number {
    // Gathered as integers rather than summed in float32, which would round past 2^24.
    return allGatherIntegers([n]).reduce((a, p) => a + p[0], 0);
  }

  /**
   * One all-reduce per optimizer step: the trainable parameters' gradients, a has-gradient flag per
   * parameter, this rank's share of the loss and its token count, summed over ranks. Afterwards every rank
   * holds the world's gradients (a parameter no rank touched keeps no gradient, as in a single process, so
   * the optimizer skips it as it would there) and gets the world's loss and tokens back.
   */
  reduceStep(params: Tensor[], loss: number, tokens: number): { loss: number; tokens: number } {
    const t0 = performance.now();
    const flags = new Float32Array(params.length + 2);
    params.forEach((p, i) => {
      if (p.grad !== null) flags[i] = 1;
      else p.grad = keep(zeros(p.shape));
    });
    flags[params.length] = loss;
    flags[params.length + 1] = tokens;
    const grads = params.map((p) => p.grad!);
    // cuda gradients go through NCCL where every rank has it (lib/dist), queued on the device's stream (no
    // host copy: the optimizer's kernels follow on that stream); the rest, and the flags, in MPI buckets.
    const onDevice = new Set(grads.filter((g) => collectivePath(g) === 'nccl'));
    if (onDevice.size > 0) allReduceTensors([...onDevice], 'sum');
    const viaMpi = grads.filter((g) => !onDevice.has(g));
    const host = viaMpi.map((g) => (g.device === 'cpu' && g.isContiguous() && g.data instanceof Float32Array ? g.data : null));
    const values = viaMpi.map((g, i) => host[i] ?? g.toFloat32Array());
    allReduceFlat([...values, flags], 'sum');
    this.reduceStats.bytes += 4 * (grads.reduce((n, g) => n + g.size, 0) + flags.length);
    viaMpi.forEach((g, i) => {
      // A device (or non-float32) gradient was reduced as a host copy: its values go back through its backend.
      if (host[i] === null) backend(g.storage.backend).write(g.buf('distributed'), values[i]);
    });
    params.forEach((p, i) => {
      if (flags[i] === 0) {
        p.grad!.dispose();
        p.grad = null;
      }
    });
    this.reduceStats.calls++;
    this.reduceStats.ms += performance.now() - t0;
    return { loss: flags[params.length], tokens: flags[params.length + 1] };
  }

  /**
   * Every rank's random streams, for a checkpoint (collective: every rank calls it at the same step). The
   * seed counters' names are compared first, so the gather that follows has one length on every rank.
   */
  gatherRandomStreams(): RankRandom[] {
    const counters = getSeedCounters();
    const names = Object.keys(counters).sort();
    const shapes = allGatherIntegers([names.length, fnv1a(names.join('\n'))]);
    shapes.forEach(([n, h], r) => {
      if (n !== shapes[0][0] || h !== shapes[0][1])
        throw new Error(`Trainer (distributed): rank ${r} has ${n} seed counters (names hash ${h}) where rank 0 has ${shapes[0][0]} (hash ${shapes[0][1]}); every rank must run the same code`);
    });
    const rs = getRandomState();
    const all = allGatherIntegers([rs.seed, rs.offset, ...names.map((n) => counters[n])]);
    return all.map(([seed, offset, ...values]) => ({ randomState: { seed, offset }, seedCounters: Object.fromEntries(names.map((n, i) => [n, values[i]])) }));
  }

  barrier(): void {
    barrier();
  }
}

/** The model's side of the agreement: parameter counts and names, and the adapter config. */
function modelAgreement(model: Module, params: Tensor[]): Agreement {
  const trainable = new Set(params);
  const named = model.namedParameters();
  const shapes = (list: [string, Tensor][]) => fnv1a(list.map(([n, t]) => `${n}:${t.shape.join('x')}`).join('\n'));
  const config = model instanceof PeftModel
    ? fnv1a(JSON.stringify([...model.peftConfig].map(([name, c]) => [name, c.toJSON()])))
    : 0;
  return [
    ['trainable parameter count', params.reduce((a, p) => a + p.size, 0)],
    ['trainable tensor count', params.length],
    ['trainable parameter names and shapes hash', shapes(named.filter(([, t]) => trainable.has(t)))],
    ['parameter count', named.reduce((a, [, t]) => a + t.size, 0)],
    ['parameter names and shapes hash', shapes(named)],
    ['adapter config hash', config],
    ['world size', worldSize()],
  ];
}

/** A hash of the training examples' token ids and labels (ranks reading different data would not shard it). */
function dataHash(data: TokenizedExample[]): number {
  let h = data.length;
  for (const e of data) {
    h = (Math.imul(h, 0x01000193) ^ fnv1a(e.inputIds)) >>> 0;
    if (e.labels) h = (Math.imul(h, 0x01000193) ^ fnv1a(e.labels.map((x) => x + 1000))) >>> 0;
    if (e.label !== undefined) h = (Math.imul(h, 0x01000193) ^ (e.label + 1)) >>> 0;
  }
  return h;
}

/**
 * A hash of the options that shape the run (batch size, accumulation, steps, learning rate, seed, ...):
 * those that are numbers, booleans or strings, except where output goes, which ranks may set apart.
 */
function optionsHash(o: TrainerOptions): number {
  const skip = new Set(['outputDir', 'logFile', 'progress', 'resumeFromCheckpoint']);
  const fields = Object.entries(o)
    .filter(([k, v]) => !skip.has(k) && (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'string' || (Array.isArray(v) && v.every((x) => typeof x === 'number'))))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return fnv1a(JSON.stringify(fields));
}
