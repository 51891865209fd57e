/** Finding a kernel in a backend's registry, with an error that names the op and the backend when it is missing. */
import type { Backend, KernelName, Kernels } from '../backend/types';

export function kernel<K extends KernelName>(be: Backend, name: K, op: string): Kernels[K] {
  return be.kernels.get(name, op);
}
