/**
 * Micro-benchmark of the activation kernels on the native addon: forward (unary) and backward
 * (unaryBackward) of each op at n = 2048 * 2048, on every CPU path the addon can run here, so one run
 * shows the portable libm loops (scalar) against the vector ones (avx2) on the same machine and load.
 *
 *   npx tsc -p . && node dist/bench/activations.js [op ...]      (default: gelu_tanh)
 */
import { loadAddon } from '../lib/backend/native/addon';
import type { UnaryOpName } from '../lib/backend/types';
import { timeIt } from './timing';

const addon = loadAddon();
if (!addon) throw new Error('bench/activations: the native addon is not built');
const n = 2048 * 2048;
const ops = process.argv.slice(2).length ? process.argv.slice(2) : ['gelu_tanh'];
const x = new Float32Array(n), dy = new Float32Array(n), out = new Float32Array(n);
for (let i = 0; i < n; i++) {
  x[i] = Math.sin(i * 0.37) * 4;  // GPT pre-activations live in a few units around 0
  dy[i] = Math.cos(i * 0.11);
}
const order = ['scalar', 'avx2', 'avx512'];
const paths = order.slice(0, order.indexOf(addon.info().cpuPathDetected) + 1);
console.log(`n = ${n}, threads ${addon.info().threads}, medians of up to 15 runs`);
for (const op of ops) {
  for (const path of paths) {
    addon.setCpuPath(path);
    const fwd = timeIt(() => addon.unary({ op: op as UnaryOpName, a: x, out, n }), { warmup: 2, maxRuns: 15 });
    const bwd = timeIt(() => addon.unaryBackward({ op: op as UnaryOpName, x, dy, dx: out, n }), { warmup: 2, maxRuns: 15 });
    console.log(`${op.padEnd(10)} ${path.padEnd(7)} forward ${fwd.medianMs.toFixed(2).padStart(7)} ms  backward ${bwd.medianMs.toFixed(2).padStart(7)} ms  sum ${(fwd.medianMs + bwd.medianMs).toFixed(2).padStart(7)} ms`);
  }
}
addon.setCpuPath(addon.info().cpuPathDetected);
