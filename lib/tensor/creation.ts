/** Creating tensors: constants, host data, ranges and counter-based random numbers. */
import { getBackend } from '../backend';
import { allocStorage, type NestedArray, Tensor } from './tensor';
import { checkShape, formatShape, type Shape, sizeOf } from './shape';

/** An uninitialized tensor on the active backend (for ops that write every element). */
export function empty(shape: Shape): Tensor {
  checkShape(shape, 'empty');
  return new Tensor(allocStorage(sizeOf(shape)), shape);
}

export function full(shape: Shape, value: number): Tensor {
  checkShape(shape, 'full');
  if (typeof value !== 'number') throw new TypeError(`full: value must be a number, got ${typeof value}`);
  const t = empty(shape);
  getBackend().fill({ out: t.buf(), n: t.size, value });
  return t;
}

export function zeros(shape: Shape): Tensor {
  return full(shape, 0);
}

export function ones(shape: Shape): Tensor {
  return full(shape, 1);
}

/**
 * A tensor whose values `write` sets on the host, into zeros. On a CPU backend it writes straight into the
 * tensor's memory, which the backend's pool hands out warm (a fresh multi-MB host array costs more in page
 * faults than many kernels that use it); elsewhere it writes a host array and uploads it.
 */
export function hostWritten(shape: Shape, write: (values: Float32Array) => void): Tensor {
  const t = zeros(shape);
  if (t.device === 'cpu') {
    write(t.data);
    return t;
  }
  t.dispose();
  const values = new Float32Array(sizeOf(shape));
  write(values);
  return fromArray(values, shape);
}

function flatten(values: NestedArray, shape: number[], out: number[], depth: number): void {
  if (Array.isArray(values)) {
    if (shape.length === depth) shape.push(values.length);
    else if (shape[depth] !== values.length)
      throw new RangeError(`tensor: ragged nested array: dimension ${depth} has lengths ${shape[depth]} and ${values.length}`);
    for (const v of values) flatten(v, shape, out, depth + 1);
  } else {
    if (typeof values !== 'number') throw new TypeError(`tensor: expected numbers, got ${typeof values}`);
    if (depth !== shape.length) throw new RangeError(`tensor: ragged nested array at depth ${depth}`);
    out.push(values);
  }
}

/**
 * A tensor from host values: a flat array or Float32Array with a shape, or a nested array (the shape
 * is then read from the nesting).
 */
export function fromArray(values: ArrayLike<number> | NestedArray, shape?: Shape): Tensor {
  let flat: ArrayLike<number>;
  let dims: number[];
  if (shape === undefined && ArrayBuffer.isView(values)) shape = [(values as unknown as ArrayLike<number>).length];
  if (shape === undefined) {
    const out: number[] = [];
    dims = [];
    flatten(values as NestedArray, dims, out, 0);
    flat = out;
  } else {
    checkShape(shape, 'fromArray');
    flat = values as ArrayLike<number>;
    dims = [...shape];
    if (typeof flat !== 'object' || flat === null || typeof flat.length !== 'number')
      throw new TypeError('fromArray: values must be an array or a Float32Array when a shape is given');
    if (flat.length !== sizeOf(dims))
      throw new RangeError(`fromArray: ${flat.length} values do not fill shape ${formatShape(dims)} (${sizeOf(dims)} elements)`);
  }
  const t = empty(dims);
  // Float64Array passes through whole (the js backend's float64 mode keeps every digit).
  getBackend().write(t.buf(), flat instanceof Float32Array || flat instanceof Float64Array ? (flat as Float32Array) : Float32Array.from(flat));
  return t;
}

/** Alias of fromArray, as in tfjs. */
export const tensor = fromArray;

/** [start, start + step, ...) up to (not including) stop. */
export function arange(start: number, stop?: number, step = 1): Tensor {
  if (stop === undefined) [start, stop] = [0, start];
  if (!Number.isFinite(start) || !Number.isFinite(stop) || !Number.isFinite(step) || step === 0)
    throw new RangeError(`arange: expected finite start, stop and a non-zero step, got (${start}, ${stop}, ${step})`);
  const n = Math.max(0, Math.ceil((stop - start) / step));
  const values = new Float32Array(n);
  for (let i = 0; i < n; i++) values[i] = start + i * step;
  return fromArray(values, [n]);
}

// The global random stream: seed and position. Each draw without an explicit seed advances it.
const stream = { seed: 0x5eed, offset: 0 };

/** Resets the global random stream, making rand/randn without a seed reproducible. */
export function manualSeed(seed: number): void {
  checkSeed(seed, 'manualSeed');
  stream.seed = seed;
  stream.offset = 0;
}

/** The global random stream's position: what a checkpoint saves so a resumed run draws the same numbers. */
export interface RandomState {
  seed: number;
  offset: number;
}

export function getRandomState(): RandomState {
  return { seed: stream.seed, offset: stream.offset };
}

/** Puts the global random stream back where getRandomState() found it. */
export function setRandomState(s: RandomState): void {
  if (typeof s !== 'object' || s === null) throw new TypeError(`setRandomState: expected {seed, offset}, got ${String(s)}`);
  checkSeed(s.seed, 'setRandomState');
  if (!Number.isSafeInteger(s.offset) || s.offset < 0 || s.offset % 4 !== 0)
    throw new RangeError(`setRandomState: offset must be a non-negative multiple of 4 (whole Philox blocks), got ${s.offset}`);
  stream.seed = s.seed;
  stream.offset = s.offset;
}

function checkSeed(seed: number, op: string): void {
  if (!Number.isInteger(seed) || seed < 0 || seed >= 2 ** 48)
    throw new RangeError(`${op}: seed must be an integer in [0, 2^48), got ${seed}`);
}

export interface RandomOptions {
  /** Seed of a counter-based stream: the same seed gives the same numbers on every backend. */
  seed?: number;
}

/** The distribution of a draw, as randomFill takes it. */
type Distribution = { kind: 'uniform'; low: number; high: number } | { kind: 'normal'; mean: number; std: number };

function draw(shape: Shape, dist: Distribution, opts: RandomOptions, op: string): Tensor {
  checkShape(shape, op);
  const t = empty(shape);
  let seed: number, offset: number;
  if (opts.seed !== undefined) {
    checkSeed(opts.seed, op);
    seed = opts.seed;
    offset = 0;
  } else {
    seed = stream.seed;
    offset = stream.offset;
    stream.offset += Math.ceil(t.size / 4) * 4;  // whole Philox blocks, so draws never share one
  }
  getBackend().randomFill({ ...dist, out: t.buf(), n: t.size, seed, offset });
  return t;
}

/** Uniform in [low, high). */
export function rand(shape: Shape, opts: RandomOptions & { low?: number; high?: number } = {}): Tensor {
  return draw(shape, { kind: 'uniform', low: opts.low ?? 0, high: opts.high ?? 1 }, opts, 'rand');
}

/** Normal with the given mean and standard deviation. */
export function randn(shape: Shape, opts: RandomOptions & { mean?: number; std?: number } = {}): Tensor {
  return draw(shape, { kind: 'normal', mean: opts.mean ?? 0, std: opts.std ?? 1 }, opts, 'randn');
}
