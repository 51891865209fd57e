/**
 * The backend registry: which implementations exist here, which one runs ops now. `native` is the
 * default where the addon loaded; `js` is always there; `cuda` where the addon has CUDA and sees a GPU.
 */
import { CudaBackend } from './cuda';
import { JsBackend } from './js';
import { loadAddon, loadError } from './native/addon';
import { NativeBackend } from './native';
import type { Backend, BackendName } from './types';

export * from './types';

const instances = new Map<BackendName, Backend>();

function unavailableReason(name: BackendName): string | null {
  if (name === 'js') return null;
  const addon = loadAddon();
  if (addon === null) return `the native addon did not load (${loadError()?.message ?? 'unknown error'}); run \`npm install\` or \`npm run build:native\``;
  if (name === 'native') return null;
  const { count, reason } = addon.cudaDeviceCount();
  return count > 0 ? null : `no CUDA device is usable: ${reason}`;
}

function create(name: BackendName): Backend {
  const why = unavailableReason(name);
  if (why !== null) throw new Error(`backend '${name}' is not available: ${why}`);
  switch (name) {
    case 'js': return new JsBackend();
    case 'native': return new NativeBackend(loadAddon()!);
    case 'cuda': return new CudaBackend(loadAddon()!);
  }
}

/** The backend for a name, created on first use; throws with the reason when it is unavailable. */
export function backend(name: BackendName): Backend {
  if (name !== 'js' && name !== 'native' && name !== 'cuda')
    throw new Error(`unknown backend '${String(name)}' (expected 'js', 'native' or 'cuda')`);
  let b = instances.get(name);
  if (b === undefined) {
    b = create(name);
    instances.set(name, b);
  }
  return b;
}

/** Each backend and, where it cannot run here, why. */
export function backendStatus(): { name: BackendName; available: boolean; reason: string | null }[] {
  return (['js', 'native', 'cuda'] as BackendName[]).map((name) => {
    const reason = unavailableReason(name);
    return { name, available: reason === null, reason };
  });
}

/** The names of the backends that work on this machine, js first. */
export function availableBackends(): BackendName[] {
  return (['js', 'native', 'cuda'] as BackendName[]).filter((n) => unavailableReason(n) === null);
}

let current: Backend | null = null;

export function setBackend(name: BackendName): void {
  current = backend(name);
}

export function getBackend(): Backend {
  if (current === null) current = backend(unavailableReason('native') === null ? 'native' : 'js');
  return current;
}

/** Runs fn with another backend active, restoring the previous one after. */
export function withBackend<T>(name: BackendName, fn: () => T): T {
  const previous = getBackend();
  setBackend(name);
  try {
    return fn();
  } finally {
    current = previous;
  }
}
