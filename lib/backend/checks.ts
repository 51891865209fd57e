/**
 * Argument checks of the kernels, written once and run by the registry before every backend's kernel
 * (KernelTable.register wraps each kernel that has checks), so js, native and cuda reject the same bad
 * input with the same message: `<kernel>: argument '<name>' ...`. The addon still checks what memory
 * safety needs (its messages read the same), for callers that reach it without the registry.
 */
import type { Buf } from './types';

const MAX_DIM = 2 ** 48;

/** A number as a message shows it. */
function show(v: number): string {
  return String(v);
}

/** What a value of the wrong type is, as the addon's messages say it (csrc/binding/args.h, type_of). */
export function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'undefined';
  if (v instanceof Float32Array) return 'Float32Array';
  if (v instanceof Float64Array) return 'Float64Array';
  if (v instanceof Int32Array) return 'Int32Array';
  if (v instanceof Uint8Array) return 'Uint8Array';
  if (ArrayBuffer.isView(v)) return 'a typed array of another type';
  if (v instanceof ArrayBuffer) return 'ArrayBuffer';
  if (Array.isArray(v)) return 'Array';
  if (typeof v === 'number') return `number ${show(v)}`;
  return typeof v === 'object' ? 'object' : typeof v;
}

function isBuf(v: unknown): v is Buf {
  return typeof v === 'object' && v !== null && 'storage' in v && 'offset' in v;
}

/** The elements a buffer holds from its offset on (0 once its storage was freed). */
export function bufLength(b: Buf): number {
  return b.storage.disposed ? 0 : b.storage.size - b.offset;
}

/** Reads one kernel's params, each reader failing with the kernel's name, the argument and what came. */
export class ArgChecks {
  constructor(readonly op: string) {}

  fail(what: string): never {
    throw new RangeError(`${this.op}: ${what}`);
  }

  failType(what: string): never {
    throw new TypeError(`${this.op}: ${what}`);
  }

  number(name: string, v: unknown): number {
    if (typeof v !== 'number') this.failType(`argument '${name}' must be a number, got ${typeOf(v)}`);
    if (Number.isNaN(v)) this.fail(`argument '${name}' must not be NaN`);
    return v;
  }

  /** A size or index: a non-negative integer below 2^48. */
  dim(name: string, v: unknown): number {
    const d = this.number(name, v);
    if (d < 0 || !Number.isInteger(d) || d >= MAX_DIM) this.fail(`argument '${name}' must be a non-negative integer, got ${show(d)}`);
    return d;
  }

  boolean(name: string, v: unknown): boolean {
    if (typeof v !== 'boolean') this.failType(`argument '${name}' must be a boolean, got ${typeOf(v)}`);
    return v;
  }

  oneOf<T extends string>(name: string, v: unknown, values: readonly T[]): T {
    if (typeof v !== 'string') this.failType(`argument '${name}' must be a string, got ${typeOf(v)}`);
    if (!values.includes(v as T)) this.fail(`${name} must be ${values.map((x) => `'${x}'`).join(' or ')}, got '${v}'`);
    return v as T;
  }

  /** A buffer holding at least `needed` elements from its offset. */
  buf(name: string, v: unknown, needed: number): Buf {
    if (!isBuf(v)) this.failType(`argument '${name}' must be a buffer, got ${typeOf(v)}`);
    const length = bufLength(v);
    if (length < needed) {
      this.fail(`argument '${name}' has ${length} elements, expected at least ${needed}` +
        (length === 0 ? " (a disposed tensor's storage is empty)" : ''));
    }
    return v;
  }

  /** buf(), or null when the argument is null or absent. */
  optBuf(name: string, v: unknown, needed: number): Buf | null {
    return v === null || v === undefined ? null : this.buf(name, v, needed);
  }

  /**
   * A strided view's shape and strides (the same number of each): its element count and the elements it
   * spans from its offset (the last element's index + 1; 0 for an empty view).
   */
  viewSpan(shapeName: string, shapeValue: unknown, stridesName: string, stridesValue: unknown): { total: number; span: number } {
    const shape = this.dimList(shapeName, shapeValue), strides = this.dimList(stridesName, stridesValue);
    if (shape.length !== strides.length) this.fail(`shape has ${shape.length} dimensions but strides has ${strides.length}`);
    let total = 1, last = 0;
    for (let d = 0; d < shape.length; d++) {
      total = this.mul(total, shape[d]);
      if (shape[d] > 0) last += this.mul(shape[d] - 1, strides[d]);
    }
    return { total, span: total === 0 ? 0 : last + 1 };
  }

  /** An Int32Array (token ids, targets, positions) holding at least `needed` elements. */
  int32s(name: string, v: unknown, needed: number): Int32Array {
    if (!(v instanceof Int32Array)) this.failType(`argument '${name}' must be an Int32Array, got ${typeOf(v)}`);
    if (v.length < needed) this.fail(`argument '${name}' has ${v.length} elements, expected at least ${needed}`);
    return v;
  }

  /** An integer that fits int32 (may be negative: ignore indices are often -100). */
  int32(name: string, v: unknown): number {
    const d = this.number(name, v);
    if (!Number.isInteger(d) || d < -(2 ** 31) || d >= 2 ** 31) this.fail(`argument '${name}' must be a 32-bit integer, got ${d}`);
    return d;
  }

  /** a * b for sizes, refused past 2^48 (as the addon does). */
  mul(a: number, b: number): number {
    const r = a * b;
    if (r >= MAX_DIM) this.fail(`size ${a} x ${b} is too large`);
    return r;
  }

  /** A data value (fill's value, a scale factor, gemm's alpha/beta): any number, NaN and infinities included. */
  value(name: string, v: unknown): number {
    if (typeof v !== 'number') this.failType(`argument '${name}' must be a number, got ${typeOf(v)}`);
    return v;
  }

  /** An Array of at most 16 sizes (a shape or strides). */
  dimList(name: string, v: unknown): number[] {
    if (!Array.isArray(v)) this.failType(`argument '${name}' must be an Array, got ${typeOf(v)}`);
    if (v.length > 16) this.fail(`'${name}' has more than 16 dimensions`);
    for (let i = 0; i < v.length; i++) {
      const d: unknown = v[i];
      if (typeof d !== 'number') this.failType(`'${name}' must hold numbers, got ${typeOf(d)}`);
      if (!(d >= 0) || !Number.isInteger(d) || d >= MAX_DIM) this.fail(`'${name}[${i}]' must be a non-negative integer, got ${show(d)}`);
    }
    return v as number[];
  }
}

/** A kernel's check: reads every argument of its params through an ArgChecks. */
export type KernelCheck<P> = (p: P, c: ArgChecks) => void;

/** The checks of every kernel of a group, by name: `T` is the group's kernels (methods taking one params object). */
export type KernelChecks<T> = { [K in keyof T]: T[K] extends (p: infer P) => unknown ? KernelCheck<P> : never };
