/**
 * The kernel registry: every kernel a backend runs, registered by name when the backend is made. Ops find
 * kernels here (kernel(be, name, op)), so a kernel a backend lacks fails with one error naming the op and
 * the backend, and listKernels() answers which backend runs what.
 */
import { OP_CHECKS, type OpKernels } from '../ops';
import { ArgChecks, type KernelCheck, type KernelChecks } from './checks';
import { primitiveChecks } from './primitive_checks';
import type { PrimitiveKernels } from './types';

/** Every kernel by name: the primitives each backend has, then the op kernels (lib/ops) a backend may leave out. */
export interface Kernels extends PrimitiveKernels, OpKernels {}
export type KernelName = keyof Kernels;

/** Each kernel's argument checks, run before the kernel on every backend (see checks.ts). */
const KERNEL_CHECKS: KernelChecks<Kernels> = { ...primitiveChecks, ...OP_CHECKS };

export class KernelTable {
  private readonly table = new Map<KernelName, (...args: never[]) => unknown>();

  constructor(readonly backend: string) {}

  /**
   * Registers each kernel of the object under its key, bound to `self` (the kernels may use `this`), behind
   * its argument checks where it has them.
   */
  register(kernels: Partial<Kernels>, self: object): this {
    for (const [name, fn] of Object.entries(kernels) as [KernelName, (...args: never[]) => unknown][]) {
      if (typeof fn !== 'function') throw new TypeError(`${this.backend} backend: kernel '${name}' is not a function`);
      if (this.table.has(name)) throw new Error(`${this.backend} backend: kernel '${name}' is registered twice`);
      const bound = fn.bind(self) as (p: unknown) => unknown;
      const check = KERNEL_CHECKS[name] as KernelCheck<unknown> | undefined;
      const checks = new ArgChecks(name);  // holds only the kernel's name: one per kernel, not per call
      this.table.set(name, check === undefined ? bound : (p: unknown) => {
        if (typeof p !== 'object' || p === null) throw new TypeError(`${name}: expected one params object, got ${p === null ? 'null' : typeof p}`);
        check(p, checks);
        return bound(p);
      });
    }
    return this;
  }

  has(name: KernelName): boolean {
    return this.table.has(name);
  }

  /** The kernel, or an error naming the op, this backend and where the kernel does run. */
  get<K extends KernelName>(name: K, op: string): Kernels[K] {
    const fn = this.table.get(name);
    if (fn === undefined) throw new Error(`${op}: the ${this.backend} backend has no ${name} kernel; use the native or js backend`);
    return fn as unknown as Kernels[K];
  }

  /** The registered names, sorted. */
  names(): KernelName[] {
    return [...this.table.keys()].sort();
  }
}
