/**
 * The ddp_step row (issue 21): data-parallel training steps of bench/train_step.ts's GPT-2 (L 6, d 512,
 * T 256), with LoRA r=16 (c_attn, c_proj, c_fc) or full fine-tuning, on 1 rank (a plain process) and on
 * 2 ranks (`mpirun -np 2`), one native thread per rank (PEFTJS_NUM_THREADS=1), so the machine's cores are
 * the "nodes". Weak scaling, as DDP is used: each rank keeps its batch B, so 2 ranks train 2 B T tokens a
 * step. A step is the Trainer's: zeroGrad, forward, loss, backward, DataParallel.reduceStep (the one
 * bucketed all-reduce of the gradients, loss and token count), AdamW; the all-reduce's time is read from
 * DataParallel.reduceStats (it includes waiting for the slower rank).
 *
 * This file is also the child: `node dist/bench/ddp_step.js --child SHAPE WARMUP STEPS`, under mpirun or
 * alone; rank 0 prints one JSON line.
 */
import { spawnSync } from 'child_process';
import { setBackend } from '../lib/backend';
import { GPT2Config } from '../lib/nn/models/gpt2/config';
import { GPT2LMHeadModel } from '../lib/nn/models/gpt2/model';
import type { Module } from '../lib/nn/module';
import { AdamW } from '../lib/optim';
// From the package index, which registers the tuners.
import { getPeftModel, LoraConfig } from '../lib';
import { scale } from '../lib/tensor/ops';
import { tidy } from '../lib/tensor/scope';
import { DataParallel } from '../lib/train/distributed';
import type { RowSpec } from './rows';
import { median } from './step_child';
import { randomIds, type TrainShape } from './train_step';

export const DDP_WARMUP = 1;
export const DDP_STEPS = 3;

/** train_step's model and sequence; B is per rank. */
export interface DdpShape extends TrainShape {
  /** LoRA rank; 0: full fine-tuning. */
  r: number;
  ranks: number;
}

export function ddpStepRows(): RowSpec[] {
  const rows: RowSpec[] = [];
  for (const r of [16, 0]) for (const ranks of [1, 2]) rows.push({ name: 'ddp_step', shape: { L: 6, H: 8, d: 512, V: 8192, T: 256, B: 4, r, ranks } });
  return rows;
}

export interface DdpTiming {
  ranks: number;
  /** Median ms of a step. */
  ms: number;
  /** Every rank's tokens per second: ranks * B * T / step. */
  tokens_per_s: number;
  /** Median ms of the step's all-reduce (0 on one rank), and the bytes each rank sends into it per step. */
  allreduce_ms: number;
  allreduce_bytes: number;
  trainable: number;
  losses: number[];
}

/** The child: build, step, time (on every rank; rank 0 reports). */
export function ddpHere(sh: DdpShape, warmup: number, steps: number): DdpTiming | null {
  setBackend('native');
  const dp = sh.ranks > 1 ? DataParallel.fromOption(true) : null;
  if (sh.ranks > 1 && dp?.size !== sh.ranks) throw new Error(`ddp_step: expected ${sh.ranks} ranks, MPI gave ${dp?.size ?? 1}`);
  const config = new GPT2Config({ vocabSize: sh.V, nPositions: sh.T, nEmbd: sh.d, nLayer: sh.L, nHead: sh.H, residPdrop: 0, embdPdrop: 0, attnPdrop: 0 });
  const base = new GPT2LMHeadModel(config);
  const model: Module = sh.r > 0
    ? getPeftModel(base, new LoraConfig({ r: sh.r, loraAlpha: 2 * sh.r, loraDropout: 0, targetModules: ['c_attn', 'c_proj', 'c_fc'], fanInFanOut: true })) as unknown as Module
    : base;
  model.train();
  const params = model.parameters().filter((p) => p.requiresGrad);
  // The Trainer's start: rank 0's weights everywhere.
  dp?.start(model, params, { trainDataset: [] }, []);
  const optimizer = new AdamW(params, { lr: 1e-4 });
  // Each rank its own batch (another seed), as DDP's ranks read different data.
  const inputIds = randomIds({ ...sh }, 1 + (dp?.rank ?? 0));
  const step = () => tidy(() => {
    optimizer.zeroGrad();
    const { loss } = (model as unknown as GPT2LMHeadModel).forward({ inputIds, labels: inputIds });
    // Each rank's share of the global mean (equal batches: 1/size), so the reduced sum is its gradient.
    (dp ? scale(loss!, 1 / dp.size) : loss!).backward();
    const l = dp ? dp.reduceStep(params, loss!.item() / dp.size, sh.B * sh.T).loss : loss!.item();
    optimizer.step();
    return l;
  });
  const losses: number[] = [];
  const samples: number[] = [], reduces: number[] = [];
  for (let i = 0; i < warmup + steps; i++) {
    const r0 = dp?.reduceStats.ms ?? 0;
    const t0 = performance.now();
    losses.push(step());
    if (i < warmup) continue;
    samples.push(performance.now() - t0);
    reduces.push((dp?.reduceStats.ms ?? 0) - r0);
    if (!dp || dp.isMain) process.stderr.write('.');
  }
  if (dp && !dp.isMain) return null;
  const ms = median(samples);
  return {
    ranks: sh.ranks, ms, tokens_per_s: (sh.ranks * sh.B * sh.T) / (ms / 1e3), allreduce_ms: median(reduces),
    allreduce_bytes: dp ? dp.reduceStats.bytes / dp.reduceStats.calls : 0, trainable: params.reduce((n, p) => n + p.size, 0), losses,
  };
}

/** Why 2-rank rows cannot run here, or null when Open MPI's mpirun is on the PATH. */
export function mpirunAbsent(): string | null {
  const v = spawnSync('mpirun', ['--version'], { encoding: 'utf8' });
  if (v.error) return 'mpirun not found: install Open MPI (apt-get install openmpi-bin) for the 2-rank rows';
  if (!/Open MPI/i.test(v.stdout + v.stderr)) return `mpirun is not Open MPI's (${(v.stdout + v.stderr).trim().split('\n')[0]})`;
  return null;
}

/**
 * One row in fresh processes: plain node for 1 rank, mpirun -np N otherwise; throws with the child's
 * status. `processes` > ranks starts that many independent copies side by side (the co-run baseline: each
 * a world of one), and returns their mean.
 */
export function ddpInChild(sh: DdpShape, warmup = DDP_WARMUP, steps = DDP_STEPS, processes = sh.ranks): DdpTiming {
  if (!__filename.endsWith('.js')) throw new Error(`ddp_step: the child processes run the compiled bench (${__filename} is not .js); run \`npm run build\``);
  const node = [process.execPath, __filename, '--child', JSON.stringify(sh), String(warmup), String(steps)];
  // --oversubscribe: ranks may outnumber the cores mpirun counts; --bind-to none: the scheduler places them.
  const [cmd, ...args] = processes === 1 ? node : ['mpirun', '-np', String(processes), '--oversubscribe', '--bind-to', 'none', ...node];
  // Open MPI refuses to start as root unless told it may (containers and CI run as root).
  const root = process.getuid?.() === 0 ? { OMPI_ALLOW_RUN_AS_ROOT: '1', OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1' } : {};
  const res = spawnSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 20, env: { ...process.env, PEFTJS_NUM_THREADS: '1', ...root } });
  if (res.status !== 0) throw new Error(`ddp_step: ${cmd} exited with ${res.status ?? res.signal}`);
  const all = res.stdout.trim().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as DdpTiming);
  const ms = all.reduce((a, t) => a + t.ms, 0) / all.length;
  return { ...all[0], ms, tokens_per_s: (sh.ranks * sh.B * sh.T) / (ms / 1e3) };
}

export interface DdpRowResult {
  spec: RowSpec;
  timing: DdpTiming | null;
  /** 2-rank rows: tokens/s over twice the 1-rank row's. */
  efficiency: number | null;
  /**
   * 2-rank rows: the same over what the machine allows two processes at once (two independent 1-rank
   * copies side by side: shared memory bandwidth, caches, and on a shared machine its other load), i.e.
   * what data parallelism itself costs.
   */
  efficiencyVsCorun: number | null;
  /** Tokens/s of one of the two side-by-side copies over the 1-rank row's (1: no contention). */
  corun: number | null;
  notes: string[];
}

export function runDdpStepRows(specs: RowSpec[]): DdpRowResult[] {
  const absent = mpirunAbsent();
  const out: DdpRowResult[] = [];
  for (const spec of specs) {
    const sh = spec.shape as unknown as DdpShape;
    if (sh.ranks > 1 && absent) {
      out.push({ spec, timing: null, efficiency: null, efficiencyVsCorun: null, corun: null, notes: [absent] });
      continue;
    }
    const t = ddpInChild(sh);
    const one = out.find((o) => o.spec.shape.ranks === 1 && o.spec.shape.r === sh.r && o.timing)?.timing;
    const efficiency = sh.ranks > 1 && one ? t.tokens_per_s / (sh.ranks * one.tokens_per_s) : null;
    const side = sh.ranks > 1 && one ? ddpInChild({ ...sh, ranks: 1 }, DDP_WARMUP, DDP_STEPS, sh.ranks) : null;
    const corun = side && one ? side.tokens_per_s / one.tokens_per_s : null;
    const notes = [`${sh.r > 0 ? `LoRA r=${sh.r}` : 'full fine-tuning'}, ${(t.trainable / 1e6).toFixed(2)}M trainable; median of ${DDP_STEPS} steps after ${DDP_WARMUP} warm-up; one thread per rank` +
      (sh.ranks > 1 ? `; all-reduce ${(t.allreduce_bytes / 2 ** 20).toFixed(2)} MiB per rank per step` : '') +
      (side ? `; ${sh.ranks} independent 1-rank copies side by side: ${side.ms.toFixed(0)} ms/step each (${(100 * corun!).toFixed(0)}% of one alone)` : '')];
    out.push({ spec, timing: t, efficiency, efficiencyVsCorun: efficiency !== null && corun ? efficiency / corun : null, corun, notes });
    process.stderr.write('+\n');
  }
  return out;
}

if (require.main === module) {
  const [flag, shape, warmup, steps] = process.argv.slice(2);
  if (flag !== '--child' || shape === undefined) {
    console.error('usage: [mpirun -np N] node ddp_step.js --child \'{"L":6,"H":8,"d":512,"V":8192,"T":256,"B":4,"r":16,"ranks":N}\' [warmup] [steps]');
    process.exit(2);
  }
  const r = ddpHere(JSON.parse(shape) as DdpShape, Number(warmup ?? 1), Number(steps ?? 2));
  if (r) process.stdout.write(JSON.stringify(r) + '\n');
}
