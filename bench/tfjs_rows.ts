/**
 * The TensorFlow.js rows (issue 18): the same tfjs program timed on the 'peftjs' backend (lib/tfjs), on
 * tfjs's 'cpu' and on 'wasm', in this process, one after the other.
 * - tfjs_matmul: tf.matMul of x [M, K] by w [K, N].
 * - tfjs_dense_fit: one model.fit step (forward, backward, Adam) of an MLP in-h-h-out at batch B.
 * - tfjs_conv_fit: one model.fit step of conv3x3(c1) relu, conv3x3(c2) relu, maxpool 2, dense 10 on HxWx1.
 * - tfjs_transformer: forward + backward (tf.variableGrads) of a pre-norm transformer block built from
 *   tfjs-layers Dense and LayerNormalization layers, attention by tf.matMul and tf.softmax.
 * 'cpu' and 'wasm' take seconds to minutes at these sizes, so they run on a part of the batch (rows for
 * matmul) and are scaled to the whole: matmul linearly; the fit rows from two batch sizes (b and b/2:
 * the step's fixed part, the optimizer's update, is not scaled). The note says what ran.
 */
import type { RowSpec } from './rows';

type Tf = typeof import('@tensorflow/tfjs');
export type TfjsBackendName = 'peftjs' | 'cpu' | 'wasm';

export const TFJS_ROW_NAMES = ['tfjs_matmul', 'tfjs_dense_fit', 'tfjs_conv_fit', 'tfjs_transformer'] as const;
export type TfjsRowName = (typeof TFJS_ROW_NAMES)[number];

export function tfjsRows(): RowSpec[] {
  return [
    { name: 'tfjs_matmul', shape: { M: 2048, N: 768, K: 768 } },
    { name: 'tfjs_matmul', shape: { M: 1024, N: 4096, K: 4096 } },
    { name: 'tfjs_dense_fit', shape: { B: 256, in: 784, h: 1024, out: 10 } },
    { name: 'tfjs_conv_fit', shape: { B: 64, H: 28, W: 28, c1: 32, c2: 64 } },
    { name: 'tfjs_transformer', shape: { B: 8, T: 256, d: 512, H: 8 } },
  ];
}

export const isTfjsRow = (s: RowSpec): boolean => (TFJS_ROW_NAMES as readonly string[]).includes(s.name);

/** The batch (or row) dimension a row scales over. */
function batchOf(s: RowSpec): number {
  return s.name === 'tfjs_matmul' ? s.shape.M : s.shape.B;
}

/** Nominal flops of one run (backward = twice the forward). */
export function tfjsRowFlops(s: RowSpec): number {
  const sh = s.shape;
  switch (s.name) {
    case 'tfjs_matmul': return 2 * sh.M * sh.N * sh.K;
    case 'tfjs_dense_fit': return 6 * sh.B * (sh.in * sh.h + sh.h * sh.h + sh.h * sh.out);
    case 'tfjs_conv_fit': {
      const h1 = sh.H - 2, w1 = sh.W - 2, h2 = h1 - 2, w2 = w1 - 2;
      return 6 * sh.B * (h1 * w1 * sh.c1 * 9 + h2 * w2 * sh.c2 * 9 * sh.c1 + (h2 >> 1) * (w2 >> 1) * sh.c2 * 10);
    }
    case 'tfjs_transformer': return 6 * sh.B * sh.T * (12 * sh.d * sh.d + 2 * sh.T * sh.d);
    default: return 0;
  }
}

let tf: Tf | null = null;
let absent: string | null = null;

function load(): Tf | null {
  if (tf || absent) return tf;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    tf = require('@tensorflow/tfjs') as Tf;
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    require('@tensorflow/tfjs-backend-wasm');
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    require('../lib/tfjs');
  } catch (e) {
    absent = `TensorFlow.js is not installed (${(e as Error).message.split('\n')[0]}); npm install brings it as a devDependency`;
    tf = null;
  }
  return tf;
}

export function tfjsRowsUnavailable(): string | null {
  load();
  return absent;
}

type Step = { run(): Promise<void>; dispose(): void };

function oneHot(t: Tf, b: number, classes: number) {
  return t.oneHot(t.tensor1d(Array.from({ length: b }, (_, i) => i % classes), 'int32'), classes);
}

/**
 * One run of the row at batch b on the current backend (model built, inputs made). forwardOnly (the fit rows):
 * model.predict instead of model.fit, for a backend that cannot run the fit step's kernels.
 */
function makeStep(t: Tf, s: RowSpec, b: number, forwardOnly = false): Step {
  const sh = s.shape;
  switch (s.name) {
    case 'tfjs_matmul': {
      const x = t.randomNormal([b, sh.K]), w = t.randomNormal([sh.K, sh.N]);
      return {
        async run() { const y = t.matMul(x, w); await y.data(); y.dispose(); },
        dispose() { t.dispose([x, w]); },
      };
    }
    case 'tfjs_dense_fit':
    case 'tfjs_conv_fit': {
      const model = s.name === 'tfjs_dense_fit'
        ? t.sequential({ layers: [
          t.layers.dense({ inputShape: [sh.in], units: sh.h, activation: 'relu' }),
          t.layers.dense({ units: sh.h, activation: 'relu' }),
          t.layers.dense({ units: sh.out, activation: 'softmax' })] })
        : t.sequential({ layers: [
          t.layers.conv2d({ inputShape: [sh.H, sh.W, 1], filters: sh.c1, kernelSize: 3, activation: 'relu' }),
          t.layers.conv2d({ filters: sh.c2, kernelSize: 3, activation: 'relu' }),
          t.layers.maxPooling2d({ poolSize: 2 }),
          t.layers.flatten(),
          t.layers.dense({ units: 10, activation: 'softmax' })] });
      model.compile({ optimizer: t.train.adam(1e-3), loss: 'categoricalCrossentropy' });
      const x = t.randomNormal(s.name === 'tfjs_dense_fit' ? [b, sh.in] : [b, sh.H, sh.W, 1]);
      const y = oneHot(t, b, s.name === 'tfjs_dense_fit' ? sh.out : 10);
      return {
        async run() {
          if (!forwardOnly) await model.fit(x, y, { batchSize: b, epochs: 1, shuffle: false, verbose: 0 });
          else {
            const p = model.predict(x) as import('@tensorflow/tfjs').Tensor;
            await p.data();
            p.dispose();
          }
        },
        dispose() { t.dispose([x, y]); model.dispose(); },
      };
    }
    case 'tfjs_transformer': {
      const { T, d, H } = sh, dh = d / H;
      const ln1 = t.layers.layerNormalization({ axis: -1 }), ln2 = t.layers.layerNormalization({ axis: -1 });
      const [q, k, v, o] = [0, 1, 2, 3].map(() => t.layers.dense({ units: d }));
      const fc1 = t.layers.dense({ units: 4 * d, activation: 'relu' }), fc2 = t.layers.dense({ units: d });
      const x = t.randomNormal([b, T, d]);
      const heads = (z: import('@tensorflow/tfjs').Tensor) => t.transpose(t.reshape(z, [b, T, H, dh]), [0, 2, 1, 3]);
      const block = () => {
        const h = ln1.apply(x) as import('@tensorflow/tfjs').Tensor;
        const Q = heads(q.apply(h) as import('@tensorflow/tfjs').Tensor), K = heads(k.apply(h) as import('@tensorflow/tfjs').Tensor);
        const V = heads(v.apply(h) as import('@tensorflow/tfjs').Tensor);
        const att = t.softmax(t.mul(t.matMul(Q, K, false, true), 1 / Math.sqrt(dh)));
        const ctx = t.reshape(t.transpose(t.matMul(att, V), [0, 2, 1, 3]), [b, T, d]);
        const x1 = t.add(x, o.apply(ctx) as import('@tensorflow/tfjs').Tensor);
        const x2 = t.add(x1, fc2.apply(fc1.apply(ln2.apply(x1))) as import('@tensorflow/tfjs').Tensor);
        return t.mean(t.square(x2)) as import('@tensorflow/tfjs').Scalar;
      };
      t.tidy(() => { block(); });  // builds the layers' weights
      const vars = [ln1, ln2, q, k, v, o, fc1, fc2].flatMap((l) => l.trainableWeights.map((w) => w.read() as import('@tensorflow/tfjs').Variable));
      return {
        async run() {
          const { value, grads } = t.variableGrads(block, vars);
          await Promise.all(Object.values(grads).map((g) => g.data()));
          await value.data();
          t.dispose([value, ...Object.values(grads)]);
        },
        dispose() { x.dispose(); [ln1, ln2, q, k, v, o, fc1, fc2].forEach((l) => l.dispose()); },
      };
    }
    default: throw new Error(`bench: ${s.name} is not a tfjs row`);
  }
}

/**
 * The median of `runs` runs after a warm-up; with minMs, more runs (up to 40) until they add up to minMs, so a
 * fast row's median is not at the mercy of one GC pause or a neighbour's burst on a shared machine. With
 * warmMs, the warm-up repeats until it has taken that long: the first few dozen runs of a fast row that
 * reads its output grow the process's heap to its working set (V8 frees read outputs only at its next GC),
 * and on the VMs measured each new MB of memory costs ~1.5 ms of host page faults, which a program that runs
 * for longer than a second no longer pays. The note gives the first runs' median beside the steady one.
 */
async function timeAt(t: Tf, s: RowSpec, b: number, runs: number, minMs = 0, warmMs = 0, coldRuns?: number[], forwardOnly = false): Promise<number> {
  const step = makeStep(t, s, b, forwardOnly);
  try {
    const warmStart = performance.now();
    do {
      const t0 = performance.now();
      await step.run();  // warm-up: kernel set-up, wasm instantiation, lazy layer building, heap growth
      coldRuns?.push(performance.now() - t0);
    } while (performance.now() - warmStart < warmMs && (coldRuns?.length ?? 0) < 400);
    const ms: number[] = [];
    let total = 0;
    for (let i = 0; i < runs || (total < minMs && i < 40); i++) {
      const t0 = performance.now();
      await step.run();
      ms.push(performance.now() - t0);
      total += ms[ms.length - 1];
    }
    return median(ms);
  } finally {
    step.dispose();
  }
}

function median(ms: number[]): number {
  const sorted = [...ms].sort((p, q) => p - q);
  return sorted[sorted.length >> 1];
}

export interface TfjsRowResult {
  spec: RowSpec;
  ms: Record<TfjsBackendName, number | null>;
  notes: string[];
}

/** About how fast each backend runs these rows (GFLOP/s), to pick a batch that takes ~1.5 s. */
const RATE: Record<TfjsBackendName, number> = { peftjs: 50, cpu: 0.5, wasm: 2 };

export async function runTfjsRows(specs: RowSpec[], withOthers: boolean): Promise<TfjsRowResult[]> {
  const t = load();
  if (!t) return [];
  const quiet = console.warn;
  console.warn = () => undefined;  // tfjs advertises tfjs-node on first use
  const results: TfjsRowResult[] = [];
  try {
    for (const s of specs) {
      const result: TfjsRowResult = { spec: s, ms: { peftjs: null, cpu: null, wasm: null }, notes: [] };
      for (const backend of (withOthers ? ['peftjs', 'cpu', 'wasm'] : ['peftjs']) as TfjsBackendName[]) {
        await t.setBackend(backend);
        await t.ready();
        const B = batchOf(s), perSample = tfjsRowFlops(s) / B;
        const b = backend === 'peftjs' ? B : Math.max(2, Math.min(B, Math.floor((1.5 * RATE[backend] * 1e9) / perSample)));
        process.stderr.write('.');
        try {
          await timeBackend(t, s, backend, b, B, result);
        } catch (e) {
          result.notes.push(`${backend}: ${(e as Error).message.split('\n')[0]}`);
        }
      }
      if (withOthers && result.ms.wasm === null && (s.name === 'tfjs_conv_fit' || s.name === 'tfjs_dense_fit')) await forwardOnlyNote(t, s, result);
      results.push(result);
    }
  } finally {
    console.warn = quiet;
    process.stderr.write('\n');
  }
  return results;
}

async function timeBackend(t: Tf, s: RowSpec, backend: TfjsBackendName, b: number, B: number, result: TfjsRowResult): Promise<void> {
  if (b === B) {
    if (backend === 'peftjs') {
      const cold: number[] = [];
      result.ms[backend] = await timeAt(t, s, B, 5, 1500, 1000, cold);
      result.notes.push(`peftjs: ${cold.length} warm-up runs first (median of the first ${Math.min(40, cold.length)}: ${median(cold.slice(0, 40)).toFixed(1)} ms)`);
    } else {
      result.ms[backend] = await timeAt(t, s, B, 1);
    }
  } else if (s.name === 'tfjs_matmul') {
    result.ms[backend] = (await timeAt(t, s, b, 1)) * (B / b);
    result.notes.push(`${backend} timed on ${b} of ${B} rows, scaled`);
  } else {
    const half = Math.max(1, b >> 1);
    const full = await timeAt(t, s, b, 1), part = await timeAt(t, s, half, 1);
    const perItem = Math.max(0, (full - part) / (b - half));
    result.ms[backend] = Math.max(full, full + perItem * (B - b));
    result.notes.push(`${backend} timed at batch ${half} and ${b}, extrapolated to ${B}`);
  }
}

/**
 * When wasm cannot run a fit step (tfjs-backend-wasm registers no Conv2DBackpropFilter), the forward pass
 * alone (model.predict at the full batch) on 'peftjs' and 'wasm', as a note: the one comparison wasm allows.
 */
async function forwardOnlyNote(t: Tf, s: RowSpec, result: TfjsRowResult): Promise<void> {
  const B = batchOf(s), ms: Partial<Record<TfjsBackendName, number>> = {};
  for (const backend of ['peftjs', 'wasm'] as const) {
    await t.setBackend(backend);
    await t.ready();
    ms[backend] = backend === 'peftjs' ? await timeAt(t, s, B, 5, 1500, 1000, undefined, true) : await timeAt(t, s, B, 3, 0, 0, undefined, true);
  }
  result.notes.push(`wasm cannot fit; the forward pass alone (model.predict, batch ${B}): peftjs ${ms.peftjs!.toFixed(1)} ms, wasm ${ms.wasm!.toFixed(1)} ms, ${(ms.wasm! / ms.peftjs!).toFixed(1)}x`);
}

/** One run of a row at batch b on the current backend (for profiling with tf.profile). */
export const makeTfjsStep = makeStep;
