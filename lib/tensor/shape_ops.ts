/** Concatenation along a dimension, and dropout. */
import { record } from './autograd';
import { empty, rand } from './creation';
import { mul } from './ops';
import { contiguousStrides, formatShape, normalizeDim } from './shape';
import { backendFor, scatterInto, type Tensor } from './tensor';

/** Joins tensors along dim; every other dimension must agree. */
export function concat(tensors: Tensor[], dim: number): Tensor {
  const op = 'concat';
  if (!Array.isArray(tensors) || tensors.length === 0) throw new RangeError(`${op}: expected a non-empty array of tensors`);
  const first = tensors[0];
  const d = normalizeDim(dim, first.rank, op);
  for (const t of tensors) {
    backendFor(t, op);
    if (t.rank !== first.rank || t.shape.some((s, i) => i !== d && s !== first.shape[i]))
      throw new RangeError(`${op}: shapes ${formatShape(first.shape)} and ${formatShape(t.shape)} differ outside dimension ${d}`);
  }
  const shape = [...first.shape];
  shape[d] = tensors.reduce((n, t) => n + t.shape[d], 0);
  const out = empty(shape);
  const strides = contiguousStrides(shape);
  const starts: number[] = [];
  let at = 0;
  for (const t of tensors) {
    starts.push(at);
    if (t.size > 0) scatterInto(t, out, at * strides[d], strides);
    at += t.shape[d];
  }
  return record(out, op, tensors, (g, _saved, needs) =>
    tensors.map((t, i) => (needs[i] ? g.slice(d, starts[i], starts[i] + t.shape[d]).contiguous() : null)));
}

/**
 * Inverted dropout: zeroes each element with probability p and scales the rest by 1 / (1 - p); the
 * identity when not training or p = 0. The mask comes from the seeded counter-based generator.
 */
export function dropout(x: Tensor, p: number, training: boolean, opts: { seed?: number } = {}): Tensor {
  const op = 'dropout';
  if (!(p >= 0 && p < 1)) throw new RangeError(`${op}: p must be in [0, 1), got ${p}`);
  if (!training || p === 0) return x.reshape(x.shape);
  const mask = rand(x.shape, opts.seed === undefined ? {} : { seed: opts.seed });
  if (mask.device !== 'cpu') throw new Error(`${op}: dropout with p > 0 runs on CPU backends only for now`);
  const m = mask.data;
  const keepScale = 1 / (1 - p);
  for (let i = 0; i < m.length; i++) m[i] = m[i] >= p ? keepScale : 0;
  const out = mul(x, mask);
  mask.dispose();
  return out;
}
