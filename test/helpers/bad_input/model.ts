/**
 * The model kernels in the bad-input harness. Int32Array fields, op names, shapes and flags are checked through
 * `ranges` (the harness names each change by its JSON, so no two changes of a kernel may print the same: NaN and
 * Infinity both print null).
 */
import type { KernelCase } from './case';

const i32 = (...v: number[]) => Int32Array.from(v);

const NORM_RANGES: [Record<string, unknown>, string][] = [
  [{ cols: 0 }, 'cols must be at least 1'],
  [{ eps: -1 }, 'eps must be finite and >= 0, got -1'],
  [{ eps: Infinity }, 'eps must be finite and >= 0, got Infinity'],
  [{ eps: '1e-6' }, "argument 'eps' must be a number, got string"],
];

/** What both embedding directions refuse in ids (n=3, vocab=4). */
function idRanges(): [Record<string, unknown>, string][] {
  return [
    [{ ids: i32(0, 4, 1) }, 'ids[1] = 4 is out of range [0, 4) (vocab 4)'],
    [{ ids: i32(0, 1, -1) }, 'ids[2] = -1 is out of range [0, 4) (vocab 4)'],
    [{ ids: i32(0) }, "argument 'ids' has 1 elements, expected at least 3"],
    [{ ids: new Float32Array(3) }, "argument 'ids' must be an Int32Array, got Float32Array"],
    [{ ids: [0, 1, 2] }, "argument 'ids' must be an Int32Array, got Array"],
  ];
}

/** What both cross-entropy directions refuse in targets and ignoreIndex (rows=3, vocab=5). */
function targetRanges(): [Record<string, unknown>, string][] {
  return [
    [{ targets: i32(4, 5, 0) }, 'row 1 has target 5, outside [0, 5) (vocab 5) and not ignoreIndex -100'],
    [{ targets: i32(-1, 0, 0) }, 'row 0 has target -1, outside [0, 5) (vocab 5) and not ignoreIndex -100'],
    [{ targets: i32(4) }, "argument 'targets' has 1 elements, expected at least 3"],
    [{ targets: new Float32Array(3) }, "argument 'targets' must be an Int32Array, got Float32Array"],
    [{ ignoreIndex: 1.5 }, "argument 'ignoreIndex' must be a 32-bit integer, got 1.5"],
    [{ ignoreIndex: 2 ** 31 }, "argument 'ignoreIndex' must be a 32-bit integer, got 2147483648"],
    [{ ignoreIndex: '-100' }, "argument 'ignoreIndex' must be a number, got string"],
  ];
}

// Every buffer the kernel reads needs at least 3 elements: bufOf pads by one, so buf(1), the harness's short buffer, has 2.
export const MODEL_CASES: KernelCase[] = [
  {
    kernel: 'unaryBackward',
    params: (b) => ({ op: 'gelu', x: b(5), dy: b(5), dx: b(5), n: 5 }),
    dims: ['n'],
    bufs: ['x', 'dy', 'dx'],
    ranges: [[{ op: 'cube' }, "unknown unary op 'cube'"], [{ op: 3 }, "argument 'op' must be a string, got number 3"]],
  },
  {
    kernel: 'softmaxBackward',
    params: (b) => ({ y: b(6), dy: b(6), dx: b(6), rows: 2, cols: 3 }),
    dims: ['rows', 'cols'],
    bufs: ['y', 'dy', 'dx'],
    ranges: [],
  },
  {
    kernel: 'columnSum',
    params: (b) => ({ a: b(6), out: b(3), rows: 2, cols: 3, beta: 1 }),
    dims: ['rows', 'cols'],
    bufs: ['a', 'out'],
    ranges: [[{ beta: NaN }, "argument 'beta' must not be NaN"], [{ beta: '1' }, "argument 'beta' must be a number, got string"]],
  },
  {
    kernel: 'stridedScatter',
    params: (b) => ({ src: b(6), dst: b(6), shape: [2, 3], strides: [1, 2] }),
    dims: [],
    bufs: ['src', 'dst'],
    ranges: [
      [{ strides: [1] }, 'shape has 2 dimensions but strides has 1'],
      [{ strides: [3, 3] }, "argument 'dst' has 7 elements, expected at least 10"],
      [{ shape: [2, -1] }, "'shape[1]' must be a non-negative integer, got -1"],
      [{ strides: [1, 1.5] }, "'strides[1]' must be a non-negative integer, got 1.5"],
      [{ shape: 6 }, "argument 'shape' must be an Array, got number 6"],
      [{ strides: ['1', 2] }, "'strides' must hold numbers, got string"],
    ],
  },
  {
    kernel: 'rmsNormForward',
    params: (b) => ({ rows: 3, cols: 3, x: b(9), weight: b(3), eps: 1e-6, y: b(9), rstd: b(3) }),
    dims: ['rows', 'cols'],
    bufs: ['x', 'weight', 'y', 'rstd'],
    ranges: NORM_RANGES,
  },
  {
    kernel: 'rmsNormBackward',
    params: (b) => ({ rows: 3, cols: 3, x: b(9), weight: b(3), eps: 1e-6, rstd: b(3), dy: b(9), dx: b(9), dweight: b(3) }),
    dims: ['rows', 'cols'],
    bufs: ['x', 'weight', 'rstd', 'dy', 'dx', 'dweight'],
    ranges: NORM_RANGES,
  },
  {
    kernel: 'layerNormForward',
    params: (b) => ({ rows: 3, cols: 3, x: b(9), weight: b(3), bias: b(3), eps: 1e-5, y: b(9), mean: b(3), rstd: b(3) }),
    dims: ['rows', 'cols'],
    bufs: ['x', 'weight', 'bias', 'y', 'mean', 'rstd'],
    ranges: NORM_RANGES,
  },
  {
    kernel: 'layerNormBackward',
    params: (b) => ({ rows: 3, cols: 3, x: b(9), weight: b(3), eps: 1e-5, mean: b(3), rstd: b(3), dy: b(9), dx: b(9), dweight: b(3), dbias: b(3) }),
    dims: ['rows', 'cols'],
    bufs: ['x', 'weight', 'mean', 'rstd', 'dy', 'dx', 'dweight', 'dbias'],
    ranges: NORM_RANGES,
  },
  {
    kernel: 'embeddingForward',
    params: (b) => ({ n: 3, dim: 2, vocab: 4, ids: i32(0, 3, 1), table: b(8), out: b(6) }),
    dims: ['n', 'dim', 'vocab'],
    bufs: ['table', 'out'],
    ranges: idRanges(),
  },
  {
    kernel: 'embeddingBackward',
    params: (b) => ({ n: 3, dim: 2, vocab: 4, ids: i32(0, 3, 1), dy: b(6), dtable: b(8) }),
    dims: ['n', 'dim', 'vocab'],
    bufs: ['dy', 'dtable'],
    ranges: idRanges(),
  },
  {
    kernel: 'rope',
    params: (b) => ({ rows: 2, heads: 2, headDim: 4, rotaryDim: 4, rowStride: 8, x: b(16), positions: i32(0, 1), theta: 10000, interleaved: false,
      inverse: false, invFreq: Float32Array.of(1, 0.01), attentionFactor: 1.25 }),
    dims: ['rows', 'heads', 'headDim', 'rotaryDim', 'rowStride'],
    bufs: ['x'],
    ranges: [
      [{ rotaryDim: 3 }, 'rotaryDim must be even and at most headDim 4, got 3'],
      [{ rotaryDim: 6 }, 'rotaryDim must be even and at most headDim 4, got 6'],
      [{ rowStride: 7 }, 'rowStride must be at least heads * headDim = 8, got 7'],
      [{ theta: 0 }, 'theta must be finite and > 0, got 0'],
      [{ theta: Infinity }, 'theta must be finite and > 0, got Infinity'],
      [{ interleaved: 1 }, "argument 'interleaved' must be a boolean, got number 1"],
      [{ inverse: undefined }, "argument 'inverse' must be a boolean, got undefined"],
      [{ positions: i32(0) }, "argument 'positions' has 1 elements, expected at least 2"],
      [{ positions: null }, "argument 'positions' must be an Int32Array, got null"],
      [{ invFreq: Float32Array.of(1) }, 'invFreq must hold rotaryDim / 2 = 2 values, got 1'],
      [{ invFreq: Float32Array.of(1, 2, 3) }, 'invFreq must hold rotaryDim / 2 = 2 values, got 3'],
      [{ invFreq: Float32Array.of(1, NaN) }, 'invFreq[1] must be finite, got NaN'],
      [{ invFreq: Float32Array.of(-Infinity, 1) }, 'invFreq[0] must be finite, got -Infinity'],
      [{ invFreq: Float64Array.of(1, 2) }, "argument 'invFreq' must be a Float32Array or null, got Float64Array"],
      [{ invFreq: [1, 2] }, "argument 'invFreq' must be a Float32Array or null, got Array"],
      [{ attentionFactor: 0 }, 'attentionFactor must be finite and > 0, got 0'],
      [{ attentionFactor: -1 }, 'attentionFactor must be finite and > 0, got -1'],
      [{ attentionFactor: Infinity }, 'attentionFactor must be finite and > 0, got Infinity'],
      [{ attentionFactor: NaN }, "argument 'attentionFactor' must not be NaN"],
      [{ attentionFactor: '1' }, "argument 'attentionFactor' must be a number, got string"],
      [{ attentionFactor: null }, "argument 'attentionFactor' must be a number, got null"],
    ],
  },
  {
    kernel: 'crossEntropyForward',
    params: (b) => ({ rows: 3, vocab: 5, logits: b(15), targets: i32(4, -100, 0), ignoreIndex: -100, losses: b(3), lse: b(3) }),
    dims: ['rows', 'vocab'],
    bufs: ['logits', 'losses', 'lse'],
    ranges: targetRanges(),
  },
  {
    kernel: 'crossEntropyBackward',
    params: (b) => ({ rows: 3, vocab: 5, logits: b(15), targets: i32(4, -100, 0), ignoreIndex: -100, lse: b(3), gradScale: 1, dlogits: b(15) }),
    dims: ['rows', 'vocab'],
    bufs: ['logits', 'lse', 'dlogits'],
    ranges: [...targetRanges(), [{ gradScale: '1' }, "argument 'gradScale' must be a number, got string"]],
  },
];
