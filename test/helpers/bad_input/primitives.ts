/** The primitive kernels in the bad-input harness. */
import type { KernelCase } from './case';

export const PRIMITIVE_CASES: KernelCase[] = [
  {
    kernel: 'gemm',
    params: (b) => ({ transA: false, transB: true, m: 2, n: 3, k: 4, alpha: 1, a: b(8), lda: 4, b: b(12), ldb: 4, beta: 0, c: b(6), ldc: 3, bias: b(3) }),
    dims: ['m', 'n', 'k', 'lda', 'ldb', 'ldc'],
    bufs: ['a', 'b', 'c', 'bias'],
    ranges: [
      [{ lda: 3 }, "leading dimension of 'a' is 3, expected at least 4 (its column count)"],
      [{ transB: 1 }, "argument 'transB' must be a boolean, got number 1"],
      [{ beta: 'x' }, "argument 'beta' must be a number, got string"],
    ],
  },
  {
    kernel: 'binary',
    params: (b) => ({ op: 'add', a: b(6), b: b(3), out: b(6), n: 6, bLength: 3 }),
    dims: ['n', 'bLength'],
    bufs: ['a', 'b', 'out'],
    ranges: [
      [{ bLength: 4 }, 'b of length 4 does not broadcast over a of length 6 (expected the same length or a row width that divides it)'],
      [{ op: 'pow' }, "unknown binary op 'pow' (expected add, sub, mul or div)"],
      [{ op: null }, "argument 'op' must be a string, got null"],
    ],
  },
  {
    kernel: 'scale',
    params: (b) => ({ a: b(5), out: b(5), n: 5, alpha: 2, beta: 1 }),
    dims: ['n'],
    bufs: ['a', 'out'],
    ranges: [[{ alpha: 'x' }, "argument 'alpha' must be a number, got string"]],
  },
  {
    kernel: 'unary',
    params: (b) => ({ op: 'exp', a: b(5), out: b(5), n: 5 }),
    dims: ['n'],
    bufs: ['a', 'out'],
    ranges: [[{ op: 'cube' }, "unknown unary op 'cube'"]],
  },
  {
    kernel: 'rowReduce',
    params: (b) => ({ op: 'sum', a: b(6), out: b(3), rows: 3, cols: 2 }),
    dims: ['rows', 'cols'],
    bufs: ['a', 'out'],
    ranges: [[{ op: 'median' }, "unknown reduction 'median' (expected sum, max or mean)"]],
  },
  { kernel: 'softmax', params: (b) => ({ a: b(6), out: b(6), rows: 2, cols: 3 }), dims: ['rows', 'cols'], bufs: ['a', 'out'], ranges: [] },
  {
    kernel: 'stridedCopy',
    params: (b) => ({ src: b(6), dst: b(6), shape: [2, 3], strides: [1, 2] }),
    dims: [],
    bufs: ['src', 'dst'],
    ranges: [
      [{ strides: [1] }, 'shape has 2 dimensions but strides has 1'],
      [{ shape: [2, -1] }, "'shape[1]' must be a non-negative integer, got -1"],
      [{ strides: [1, 'a'] }, "'strides' must hold numbers, got string"],
      [{ shape: 'x' }, "argument 'shape' must be an Array, got string"],
      [{ shape: new Array(17).fill(1), strides: new Array(17).fill(1) }, "'shape' has more than 16 dimensions"],
    ],
  },
  {
    kernel: 'fill',
    params: (b) => ({ out: b(4), n: 4, value: 1 }),
    dims: ['n'],
    bufs: ['out'],
    ranges: [[{ value: null }, "argument 'value' must be a number, got null"]],
  },
  {
    kernel: 'randomFill',
    params: (b) => ({ kind: 'normal', out: b(4), n: 4, seed: 1, offset: 0, mean: 0, std: 1 }),
    dims: ['n', 'seed', 'offset'],
    bufs: ['out'],
    ranges: [
      [{ kind: 'cauchy' }, "kind must be 'uniform' or 'normal', got 'cauchy'"],
      [{ std: NaN }, "argument 'std' must not be NaN"],
      [{ kind: 'uniform' }, "argument 'low' must be a number, got undefined"],
    ],
  },
];
