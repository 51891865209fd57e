/** Finding an optional kernel on the active backend, with an error that names the op when it is missing. */
import type { Backend, ModelKernels, OptimKernels } from '../backend/types';

type Kernels = ModelKernels & OptimKernels;

export function kernel<K extends keyof Kernels>(be: Backend, name: K, op: string): Kernels[K] {
  const fn = be[name] as unknown;
  if (typeof fn !== 'function') throw new Error(`${op}: the ${be.name} backend has no ${name} kernel; use the native or js backend`);
  return (fn as (...args: unknown[]) => unknown).bind(be) as Kernels[K];
}
