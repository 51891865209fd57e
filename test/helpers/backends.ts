/** Helpers for specs that run one kernel on every backend present and compare with the js oracle. */
import { backend, type BackendName, backendStatus, fromArray, type KernelName, type Tensor, withBackend } from '../../lib';
import { loadAddon } from '../../lib/backend/native/addon';

/** Every backend present here, for describe.each; says once which ones are missing and why. */
export function backendsUnderTest(): BackendName[] {
  const status = backendStatus();
  for (const s of status) if (!s.available) console.log(`skipping the ${s.name} backend here: ${s.reason}`);
  return status.filter((s) => s.available).map((s) => s.name);
}

/**
 * The backends present here that register every named kernel (their registries say so, see listKernels),
 * for describe.each over the backends that run an op; says which ones are left out and why.
 */
export function backendsWithKernels(...names: KernelName[]): BackendName[] {
  return backendsUnderTest().filter((b) => {
    const missing = names.filter((n) => !backend(b).kernels.has(n));
    if (missing.length > 0) console.log(`skipping the ${b} backend for ${names.join(', ')}: it has no ${missing.join(', ')} kernel`);
    return missing.length === 0;
  });
}

/** Computes fn on the js backend with copies of the inputs and returns the host values. */
export function oracle(inputs: Tensor[], fn: (...xs: Tensor[]) => Tensor): Float32Array {
  return withBackend('js', () => {
    const copies = inputs.map((t) => t.to('js'));
    const out = fn(...copies);
    const values = out.toFloat32Array();
    out.dispose();
    copies.forEach((c) => c.dispose());
    return values;
  });
}

/** Deterministic values in [-1, 1) from a seed (independent of the backends' generators). */
export function hostRandom(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    out[i] = (s / 4294967296) * 2 - 1;
  }
  return out;
}

export function randomTensor(shape: number[], seed: number): Tensor {
  return fromArray(hostRandom(shape.reduce((a, b) => a * b, 1), seed), shape);
}

/** The CPU paths the native addon can run here (the detected one and every lower one). */
export function cpuPaths(): string[] {
  const addon = loadAddon();
  if (!addon) return [];
  const order = ['scalar', 'avx2', 'avx512'];
  return order.slice(0, order.indexOf(addon.info().cpuPathDetected) + 1);
}

/** Runs fn with the native addon forced to a CPU path, restoring the detected one after. */
export function withCpuPath<T>(path: string, fn: () => T): T {
  const addon = loadAddon()!;
  addon.setCpuPath(path);
  try {
    return fn();
  } finally {
    addon.setCpuPath(addon.info().cpuPathDetected);
  }
}

/** Sizes every kernel spec covers: tiny, odd, and past every block size. */
export const ODD_SIZES = [1, 3, 17, 1000];
