/**
 * TensorFlow.js beside peftjs: its cpu (plain JS) and wasm backends on the gemm and LoRA rows. Both
 * take seconds to minutes at these shapes, so each is timed on the first rows of x and scaled to the
 * full row count (every term of these rows is linear in the row count); the result says how many rows ran.
 */
import type { RowSpec } from './rows';

export interface TfjsTiming {
  ms: number;
  rowsTimed: number;
}

type Tf = typeof import('@tensorflow/tfjs');

let tf: Tf | null = null;
let loadError: string | null = null;

function load(): Tf | null {
  if (tf || loadError) return tf;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    tf = require('@tensorflow/tfjs') as Tf;
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    require('@tensorflow/tfjs-backend-wasm');
  } catch (e) {
    loadError = `TensorFlow.js is not installed (${(e as Error).message.split('\n')[0]}); npm install brings it as a devDependency`;
  }
  return tf;
}

export function tfjsUnavailable(): string | null {
  load();
  return loadError;
}

/** Milliseconds of one run of the row on tfjs's backend, scaled from a row subset. */
export async function timeTfjs(s: RowSpec, backend: 'cpu' | 'wasm'): Promise<TfjsTiming | null> {
  const t = load();
  if (!t || (s.name !== 'gemm' && s.name !== 'lora_fwd_bwd')) return null;
  const quiet = console.warn;
  console.warn = () => undefined;  // tfjs advertises tfjs-node on first use
  try {
    await t.setBackend(backend);
    await t.ready();
  } finally {
    console.warn = quiet;
  }
  const { M, N, K, T, d, r } = s.shape;
  const rows = s.name === 'gemm' ? M : T;
  const inner = s.name === 'gemm' ? 2 * N * K : 4 * d * d;
  // About 0.3 s per run at ~1 GFLOP/s (wasm) or ~0.3 (cpu).
  const rate = backend === 'wasm' ? 1e9 : 3e8;
  const sub = Math.max(1, Math.min(rows, Math.floor((0.3 * rate) / inner)));
  const step = s.name === 'gemm'
    ? (() => {
        const x = t.randomNormal([sub, K]), w = t.randomNormal([N, K]);
        return async () => { const y = t.matMul(x, w, false, true); await y.data(); y.dispose(); };
      })()
    : (() => {
        const x = t.randomNormal([sub, d]), w = t.randomNormal([d, d]), b = t.randomNormal([d]), dy = t.randomNormal([sub, d]);
        const a = t.randomNormal([r, d]), bl = t.randomNormal([d, r]);
        const f = (xx: import('@tensorflow/tfjs').Tensor, aa: import('@tensorflow/tfjs').Tensor, bb: import('@tensorflow/tfjs').Tensor) => {
          const base = t.add(t.matMul(xx, w, false, true), b);
          const lora = t.mul(t.matMul(t.matMul(xx, aa, false, true), bb, false, true), 2);
          return t.sum(t.mul(t.add(base, lora), dy)) as import('@tensorflow/tfjs').Scalar;
        };
        const g = t.grads(f);
        return async () => {
          const grads = g([x, a, bl]);
          await Promise.all(grads.map((gr) => gr.data()));
          grads.forEach((gr) => gr.dispose());
        };
      })();
  await step();  // warm-up (kernel compilation, wasm instantiation)
  const samples: number[] = [];
  const start = performance.now();
  while (samples.length < 3 || (performance.now() - start < 1500 && samples.length < 7)) {
    const t0 = performance.now();
    await step();
    samples.push(performance.now() - t0);
  }
  samples.sort((p, q) => p - q);
  return { ms: samples[samples.length >> 1] * (rows / sub), rowsTimed: sub };
}
