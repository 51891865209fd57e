/**
 * The native model kernels against the js reference on random inputs of odd sizes (1, 3, 17, 1000), on
 * every CPU path the addon can run here (the cross-entropy row passes have a scalar and an AVX2 path).
 */
import { backend, type Backend, type Buf } from '../../lib';
import type { UnaryOpName } from '../../lib/backend/types';
import { cpuPaths, hostRandom, ODD_SIZES, withCpuPath } from '../helpers/backends';
import { bufOf, readBuf, zerosBuf } from '../helpers/bufs';

const paths = cpuPaths();
const js = backend('js');

/** Runs fn on js and on native (under a CPU path) with the same inputs; returns both outputs. */
function both(fn: (be: Backend) => Float32Array[], path: string): [Float32Array[], Float32Array[]] {
  const expected = fn(js);
  const actual = withCpuPath(path, () => fn(backend('native')));
  return [actual, expected];
}

function expectAllClose(pair: [Float32Array[], Float32Array[]], atol: number, rtol = 1e-5): void {
  pair[0].forEach((a, i) => expect(a).toAllClose(pair[1][i], { atol, rtol }));
}

const rand = (n: number, seed: number, scale = 1, shift = 0) => Float32Array.from(hostRandom(n, seed), (v) => v * scale + shift);
const shapes: [number, number][] = [[1, 1], [3, 17], [17, 3], [1, 1000], [17, 1000], [1000, 17]];

(paths.length ? describe.each(paths) : describe.skip.each(['none']))('native model kernels vs js on the %s path', (path) => {
  const ops: UnaryOpName[] = ['exp', 'log', 'sqrt', 'tanh', 'sigmoid', 'relu', 'neg', 'gelu', 'gelu_tanh', 'silu'];
  it.each(ops)('unaryBackward %s', (op) => {
    for (const n of ODD_SIZES) {
      // log and sqrt need x > 0.
      const x = op === 'log' || op === 'sqrt' ? rand(n, 1, 1.5, 2) : rand(n, 1, 4);
      const dy = rand(n, 2);
      expectAllClose(both((be) => {
        const dx = zerosBuf(be, n, 3);
        be.kernels.get('unaryBackward', 'test')({ op, x: bufOf(be, x, 1), dy: bufOf(be, dy), dx, n });
        return [readBuf(be, dx, n)];
      }, path), 1e-6, 1e-5);
    }
  });

  it.each(shapes)('softmaxBackward [%i, %i]', (rows, cols) => {
    const x = rand(rows * cols, 4, 3), dy = rand(rows * cols, 5);
    expectAllClose(both((be) => {
      const y = zerosBuf(be, rows * cols);
      be.softmax({ a: bufOf(be, x), out: y, rows, cols });
      const dx = zerosBuf(be, rows * cols, 2);
      be.kernels.get('softmaxBackward', 'test')({ y, dy: bufOf(be, dy, 1), dx, rows, cols });
      return [readBuf(be, dx, rows * cols)];
    }, path), 1e-6);
  });

  it.each(shapes)('columnSum [%i, %i] with beta 0 (out not read) and beta 1 (accumulates)', (rows, cols) => {
    const a = rand(rows * cols, 6), prior = rand(cols, 7);
    expectAllClose(both((be) => {
      const out0 = bufOf(be, new Float32Array(cols).fill(NaN), 2);
      be.kernels.get('columnSum', 'test')({ a: bufOf(be, a, 1), out: out0, rows, cols, beta: 0 });
      const out1 = bufOf(be, prior, 3);
      be.kernels.get('columnSum', 'test')({ a: bufOf(be, a, 1), out: out1, rows, cols, beta: 1 });
      return [readBuf(be, out0, cols), readBuf(be, out1, cols)];
    }, path), 2e-5 * Math.sqrt(rows));
  });

  it.each([
    [[17, 3], [1, 17]], [[3, 1000], [1, 3]], [[2, 3, 17], [51 * 2, 1, 3]], [[1000], [2]], [[], []], [[4, 0, 3], [1, 4, 0]],
  ])('stridedScatter shape %j strides %j', (shape, strides) => {
    const total = shape.reduce((x, y) => x * y, 1);
    const span = shape.length === 0 ? 1 : shape.reduce((s, d, i) => s + (d > 0 ? (d - 1) * strides[i] : 0), 0) + 1;
    const src = rand(total, 8), base = rand(span, 9);
    expectAllClose(both((be) => {
      const dst = bufOf(be, base, 5);
      be.kernels.get('stridedScatter', 'test')({ src: bufOf(be, src, 2), dst, shape, strides });
      return [readBuf(be, dst, span)];
    }, path), 0, 0);
  });

  it.each(shapes)('rmsNorm forward and backward [%i, %i], with and without weight', (rows, cols) => {
    const x = rand(rows * cols, 10, 2), w = rand(cols, 11), dy = rand(rows * cols, 12);
    for (const withWeight of [true, false]) {
      expectAllClose(both((be) => {
        const weight = withWeight ? bufOf(be, w, 1) : null;
        const common = { rows, cols, x: bufOf(be, x, 2), weight, eps: 1e-6 };
        const y = zerosBuf(be, rows * cols), rstd = zerosBuf(be, rows, 1);
        be.kernels.get('rmsNormForward', 'test')({ ...common, y, rstd });
        const dx = zerosBuf(be, rows * cols), dweight = withWeight ? bufOf(be, new Float32Array(cols).fill(NaN)) : null;
        be.kernels.get('rmsNormBackward', 'test')({ ...common, rstd, dy: bufOf(be, dy), dx, dweight });
        const outs = [readBuf(be, y, rows * cols), readBuf(be, rstd, rows), readBuf(be, dx, rows * cols)];
        return dweight ? [...outs, readBuf(be, dweight, cols)] : outs;
      }, path), 2e-5 * Math.sqrt(rows), 1e-4);
    }
  });

  it.each(shapes)('layerNorm forward and backward [%i, %i], with and without affine', (rows, cols) => {
    const x = rand(rows * cols, 13, 2, 0.7), w = rand(cols, 14), b = rand(cols, 15), dy = rand(rows * cols, 16);
    for (const affine of [true, false]) {
      expectAllClose(both((be) => {
        const weight = affine ? bufOf(be, w, 1) : null, bias = affine ? bufOf(be, b, 2) : null;
        const common = { rows, cols, x: bufOf(be, x, 3), weight, eps: 1e-5 };
        const y = zerosBuf(be, rows * cols), mean = zerosBuf(be, rows), rstd = zerosBuf(be, rows, 1);
        be.kernels.get('layerNormForward', 'test')({ ...common, bias, y, mean, rstd });
        const dx = zerosBuf(be, rows * cols);
        const dweight = affine ? zerosBuf(be, cols) : null, dbias = affine ? zerosBuf(be, cols, 1) : null;
        be.kernels.get('layerNormBackward', 'test')({ ...common, mean, rstd, dy: bufOf(be, dy), dx, dweight, dbias });
        const outs = [readBuf(be, y, rows * cols), readBuf(be, mean, rows), readBuf(be, rstd, rows), readBuf(be, dx, rows * cols)];
        return dweight && dbias ? [...outs, readBuf(be, dweight, cols), readBuf(be, dbias, cols)] : outs;
      }, path), 2e-5 * Math.sqrt(rows), 1e-4);
    }
  });

  it.each([[1, 1, 1], [3, 17, 5], [17, 3, 2], [1000, 17, 50], [17, 1000, 3], [1000, 3, 1]])('embedding n=%i dim=%i vocab=%i (repeated ids accumulate)', (n, dim, vocab) => {
    const ids = Int32Array.from(hostRandom(n, 17), (v) => Math.floor(((v + 1) / 2) * vocab));
    const table = rand(vocab * dim, 18), dy = rand(n * dim, 19);
    expectAllClose(both((be) => {
      const t = bufOf(be, table, 2), out = zerosBuf(be, n * dim, 1);
      be.kernels.get('embeddingForward', 'test')({ n, dim, vocab, ids, table: t, out });
      const dtable = bufOf(be, table, 3);  // accumulates onto what is there
      be.kernels.get('embeddingBackward', 'test')({ n, dim, vocab, ids, dy: bufOf(be, dy), dtable });
      return [readBuf(be, out, n * dim), readBuf(be, dtable, vocab * dim)];
    }, path), 1e-5);
  });

  it.each([
    // rows, heads, headDim, rotaryDim, rowStride
    [1, 1, 2, 2, 2], [3, 2, 8, 8, 16], [17, 3, 16, 8, 3 * 16 * 3], [1000, 2, 64, 64, 128], [5, 4, 10, 6, 40],
  ])('rope rows=%i heads=%i headDim=%i rotaryDim=%i rowStride=%i, both conventions, inverse', (rows, heads, headDim, rotaryDim, rowStride) => {
    const span = (rows - 1) * rowStride + heads * headDim;
    const x = rand(span, 20), positions = Int32Array.from({ length: rows }, (_, i) => (i * 37) % 5000);
    for (const interleaved of [false, true]) for (const inverse of [false, true]) {
      expectAllClose(both((be) => {
        const xb = bufOf(be, x, 3);
        be.kernels.get('rope', 'test')({ rows, heads, headDim, rotaryDim, rowStride, x: xb, positions, theta: 10000, interleaved, inverse });
        return [readBuf(be, xb, span)];
      }, path), 2e-6, 0);
    }
  });

  it('crossEntropy propagates a NaN logit to its row\'s loss and gradient on every path', () => {
    const rows = 2, vocab = 37, logits = rand(rows * vocab, 22, 4);
    logits[vocab + 20] = NaN;
    const targets = Int32Array.of(3, 5);
    const [actual, expected] = both((be: Backend) => {
      const l = bufOf(be, logits), losses = zerosBuf(be, rows), lse = zerosBuf(be, rows), dlogits = zerosBuf(be, rows * vocab);
      be.kernels.get('crossEntropyForward', 'test')({ rows, vocab, logits: l, targets, ignoreIndex: -100, losses, lse });
      be.kernels.get('crossEntropyBackward', 'test')({ rows, vocab, logits: l, targets, ignoreIndex: -100, lse, gradScale: 1, dlogits });
      return [readBuf(be, losses, rows), readBuf(be, dlogits, rows * vocab)];
    }, path);
    expect(Number.isNaN(expected[0][1]) && !Number.isNaN(expected[0][0])).toBe(true);
    actual.forEach((a, i) => expect(a).toAllClose(expected[i], { atol: 1e-5 }));
  });

  it.each([[1, 1], [3, 17], [17, 3], [3, 1000], [2, 32000], [1000, 17]])('crossEntropy rows=%i vocab=%i', (rows, vocab) => {
    const logits = rand(rows * vocab, 21, 8);
    // Some masked logits, an ignored row when there are several.
    for (let i = 0; i < logits.length; i += 7) if (i % vocab !== 0) logits[i] = -Infinity;
    const targets = Int32Array.from({ length: rows }, (_, r) => (r === 1 ? -100 : (r * 7919) % vocab));
    expectAllClose(both((be: Backend) => {
      const l: Buf = bufOf(be, logits, 1), losses = zerosBuf(be, rows), lse = zerosBuf(be, rows, 2);
      const counted = be.kernels.get('crossEntropyForward', 'test')({ rows, vocab, logits: l, targets, ignoreIndex: -100, losses, lse });
      const dlogits = bufOf(be, new Float32Array(rows * vocab).fill(NaN), 1);
      be.kernels.get('crossEntropyBackward', 'test')({ rows, vocab, logits: l, targets, ignoreIndex: -100, lse, gradScale: 0.25, dlogits });
      return [Float32Array.of(counted), readBuf(be, losses, rows), readBuf(be, lse, rows), readBuf(be, dlogits, rows * vocab)];
    }, path), 1e-5, 1e-5);
  });
});
