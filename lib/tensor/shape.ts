/** Shape arithmetic shared by tensors and ops. */
import { kMaxLength } from 'buffer';

export type Shape = readonly number[];

export function formatShape(shape: Shape): string {
  return `[${shape.join(', ')}]`;
}

/**
 * The most elements one tensor holds: its storage is one Float32Array, which V8 caps at this length
 * (2^32 on Node 20, 2^53 - 1 from Node 22; Node's buffer MAX_LENGTH is that same V8 limit).
 */
export const MAX_TENSOR_ELEMENTS: number = kMaxLength;

/** Checks every dimension is a non-negative integer; `what` names the operation for the error. */
export function checkShape(shape: Shape, what: string): void {
  if (!Array.isArray(shape)) throw new TypeError(`${what}: shape must be an array of integers, got ${typeof shape}`);
  for (const d of shape) {
    if (typeof d !== 'number' || !Number.isInteger(d) || d < 0)
      throw new RangeError(`${what}: shape must hold non-negative integers, got ${formatShape(shape)}`);
  }
  checkElementCount(sizeOf(shape), what, shape);
}

/** Throws when a tensor of `size` elements cannot exist in this Node; `what` names the operation. */
export function checkElementCount(size: number, what: string, shape?: Shape): void {
  if (size <= MAX_TENSOR_ELEMENTS) return;
  const of = shape ? `shape ${formatShape(shape)} has ${size} elements` : `${size} elements requested`;
  throw new RangeError(`${what}: ${of}, more than the ${MAX_TENSOR_ELEMENTS} one tensor holds in Node ${process.version} ` +
    '(its storage is a single Float32Array)');
}

export function sizeOf(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function contiguousStrides(shape: Shape): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    strides[d] = s;
    s *= shape[d];
  }
  return strides;
}

/** A dimension index, negative counting from the end, checked against the rank. */
export function normalizeDim(dim: number, rank: number, what: string): number {
  const d = dim < 0 ? dim + rank : dim;
  if (!Number.isInteger(dim) || d < 0 || d >= rank)
    throw new RangeError(`${what}: dimension ${dim} is out of range for a tensor of rank ${rank}`);
  return d;
}

/** Resolves one -1 in a requested shape against the element count. */
export function inferShape(requested: Shape, size: number, what: string): number[] {
  const shape = [...requested];
  const unknown = shape.indexOf(-1);
  if (unknown !== shape.lastIndexOf(-1)) throw new RangeError(`${what}: only one dimension can be -1, got ${formatShape(requested)}`);
  if (unknown >= 0) {
    const known = sizeOf(shape.filter((_, i) => i !== unknown));
    if (known === 0 || size % known !== 0)
      throw new RangeError(`${what}: cannot infer -1 in ${formatShape(requested)} for ${size} elements`);
    shape[unknown] = size / known;
  }
  checkShape(shape, what);
  if (sizeOf(shape) !== size)
    throw new RangeError(`${what}: shape ${formatShape(requested)} has ${sizeOf(shape)} elements, expected ${size}`);
  return shape;
}
