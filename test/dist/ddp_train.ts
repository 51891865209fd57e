/**
 * One training run of ddp.test.ts: the tiny Llama fixture (test/fixtures/models/llama) fine-tuned with LoRA
 * (or fully) on counting sequences of mixed lengths, by the Trainer. Started by `mpirun -np N` it is one
 * rank of a data-parallel run (the Trainer notices the launch); started alone it is the single-process
 * reference. Rank 0 (or the lone process) writes the step losses and the trainable weights as JSON to
 * `out`.
 *
 * Ranks other than 0 start from deliberately different weights (another LoRA init seed; for full
 * fine-tuning, perturbed base weights), so the run only matches the reference if the Trainer broadcasts
 * rank 0's parameters at start.
 *
 *   node -r test/dist/register_ts.js test/dist/ddp_train.ts '<json RunSpec>'
 */
import * as fs from 'fs';
import * as path from 'path';
import { add, getPeftModel, loadHfModel, LoraConfig, manualSeed, type Module, noGrad, randn, setBackend, Trainer, type TokenizedExample } from '../../lib';
import { initDistributed, isMainProcess, mpiLaunch } from '../../lib/dist';

export interface RunSpec {
  mode: 'lora' | 'full';
  backend: 'native' | 'js';
  batchSize: number;
  gradientAccumulationSteps: number;
  steps: number;
  examples: number;
  /** LoRA r by rank (a rank missing here takes loraR[0]): a mismatch makes the start-up check fail. */
  loraR: number[];
  /** LoRA dropout (default 0): its seed counters part ways on ranks given an empty batch. */
  loraDropout?: number;
  /** Checkpoints every saveSteps steps into outputDir. */
  outputDir?: string;
  saveSteps?: number;
  /** Resume from this checkpoint folder. */
  resume?: string;
  /** This rank SIGKILLs itself once the step is done (after its checkpoint, if one is due), first writing the time into `${out}.killed`. */
  kill?: { rank: number; step: number };
  /** This rank hangs (alive, outside MPI) once the step is logged, first writing the time into `${out}.stalled`. */
  stall?: { rank: number; step: number };
  out: string;
}

const FIXTURE = path.join(__dirname, '..', 'fixtures', 'models', 'llama');

/** Sequences counting up by 5 modulo 97 from different starts, of lengths 5..9 (so batches pad differently). */
function data(n: number): TokenizedExample[] {
  return Array.from({ length: n }, (_, k) => ({ inputIds: Array.from({ length: 5 + (k % 5) }, (_, t) => (11 * k + 5 * t) % 97) }));
}

/**
 * The fault test's rank death: SIGKILL (no exit handler, no MPI_Abort: as the OOM killer or a lost node
 * would end it) once `step` is logged, i.e. after the step's update (the log comes before the step's
 * checkpoint, so a kill at step saveSteps*k + 1 or later leaves checkpoint-(saveSteps*k) the last one).
 */
function killAt(step: number, spec: RunSpec): void {
  if (step !== spec.kill!.step) return;
  fs.writeFileSync(`${spec.out}.killed`, String(Date.now()));
  process.kill(process.pid, 'SIGKILL');
}

/** The watchdog test's stuck rank: blocks the main thread for good, using no CPU, never reaching the next collective. */
function stallAt(step: number, spec: RunSpec): void {
  if (step !== spec.stall!.step) return;
  fs.writeFileSync(`${spec.out}.stalled`, String(Date.now()));
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
}

function main(): void {
  const spec = JSON.parse(process.argv[2]) as RunSpec;
  setBackend(spec.backend);
  const base = loadHfModel(FIXTURE) as unknown as Module;
  // The rank is known once MPI is up (the Trainer would initialise it too, but the weights differ before).
  const me = mpiLaunch() ? initDistributed().rank : 0;
  let model: Module = base;
  if (spec.mode === 'lora') {
    manualSeed(100 + me);
    model = getPeftModel(base, new LoraConfig({ r: spec.loraR[me] ?? spec.loraR[0], loraAlpha: 8, loraDropout: spec.loraDropout ?? 0, targetModules: ['q_proj', 'v_proj', 'down_proj'], initLoraWeights: 'gaussian' })) as unknown as Module;
  } else if (me !== 0) {
    manualSeed(200 + me);
    noGrad(() => model.loadStateDict(Object.fromEntries(model.namedParameters().map(([n, p]) => [n, add(p, randn(p.shape, { std: 0.01 }))]))));
  }
  const trainer = new Trainer(model, {
    trainDataset: data(spec.examples), batchSize: spec.batchSize, gradientAccumulationSteps: spec.gradientAccumulationSteps,
    maxSteps: spec.steps, lr: 3e-3, weightDecay: 0.01, warmupSteps: 2, maxGradNorm: 1.0, seed: 5, progress: false, padId: 0,
    ...(spec.outputDir ? { outputDir: spec.outputDir, saveSteps: spec.saveSteps } : {}),
    ...(spec.resume ? { resumeFromCheckpoint: spec.resume } : {}),
    ...(spec.kill?.rank === me ? { onLog: (e: { step: number }) => killAt(e.step, spec) } : {}),
    ...(spec.stall?.rank === me ? { onLog: (e: { step: number }) => stallAt(e.step, spec) } : {}),
  });
  const result = trainer.train();
  if (!isMainProcess()) return;
  const trainable = model.namedParameters().filter(([, p]) => p.requiresGrad);
  fs.writeFileSync(spec.out, JSON.stringify({
    losses: result.stepLosses.map((s) => s.loss),
    weights: Object.fromEntries(trainable.map(([n, p]) => [n, Array.from(p.toFloat32Array())])),
  }));
}

main();
