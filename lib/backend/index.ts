/**
 * The backend registry: which implementations exist here, which one runs ops now. `native` is the
 * default where the addon loaded; `js` is always there; `cuda` where the addon has CUDA and sees a GPU.
 * PEFTJS_BACKEND names the default instead.
 */
import { CudaBackend, cudaKernelNames } from './cuda';
import { JsBackend } from './js';
import { loadAddon, loadError } from './native/addon';
import { NativeBackend } from './native';
import type { Backend, BackendName } from './types';

export * from './types';

const instances = new Map<BackendName, Backend>();

/** How to get the addon back: npm's rebuild where peftjs is a dependency, node-gyp in its own checkout. */
const REBUILD_HINT = '`npm rebuild peftjs` (in a checkout of peftjs: `npx node-gyp rebuild`)';

function unavailableReason(name: BackendName): string | null {
  if (name === 'js') return null;
  const addon = loadAddon();
  if (addon === null) return `the native addon did not load (${loadError()?.message ?? 'unknown error'}); rebuild it with ${REBUILD_HINT}`;
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
  if (current === null) current = defaultBackend();
  return current;
}

/**
 * The backend ops run on until setBackend picks one: PEFTJS_BACKEND where set (an explicit choice, so an
 * unavailable one throws with the reason), else native, else js. Falling back to js without being asked
 * says so once on stderr: every op then runs ~300x slower, and a silent fallback looks like a slow library
 * rather than a broken build.
 */
function defaultBackend(): Backend {
  const chosen = process.env.PEFTJS_BACKEND;
  if (chosen) {
    try {
      return backend(chosen as BackendName);
    } catch (e) {
      throw new Error(`PEFTJS_BACKEND=${chosen}: ${(e as Error).message}`);
    }
  }
  if (unavailableReason('native') === null) return backend('native');
  // The first line: a failed require adds its "Require stack" below it.
  const why = loadError()?.message.split('\n')[0] ?? 'unknown error';
  process.stderr.write(`peftjs: the native addon did not load (${why}), so every op runs on the js reference backend, ` +
    `~300x slower. Rebuild the addon with ${REBUILD_HINT}, or set PEFTJS_BACKEND=js to choose the js backend without this warning.\n`);
  return backend('js');
}

/**
 * The kernels a backend runs, by name, sorted (default: the active backend). An op whose kernel a backend
 * lacks fails there with an error naming the op and the backend. The cuda backend's list is the build's
 * answer: an addon built with CUDA gives it on a machine without a GPU too.
 */
export function listKernels(name?: BackendName): string[] {
  if (name === 'cuda' && !instances.has('cuda')) {
    const addon = loadAddon();
    if (addon?.info().cudaCompiled) return cudaKernelNames(addon);
  }
  return (name === undefined ? getBackend() : backend(name)).kernels.names();
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
