/**
 * Model kernels against PyTorch's numbers (test/fixtures/model/make_model_golden.py, torch 1.13 float32):
 * both RoPE conventions (full and partial rotary dims), LayerNorm and RMSNorm forward and backward,
 * cross-entropy with an ignored row, and the derivatives of GELU (both forms), SiLU, tanh and sigmoid.
 */
import * as fs from 'fs';
import * as path from 'path';
import { backend } from '../../lib';
import { backendsUnderTest, backendsWithKernels } from '../helpers/backends';
import { bufOf, readBuf, zerosBuf } from '../helpers/bufs';

const golden = JSON.parse(fs.readFileSync(path.join(__dirname, '../fixtures/model/model_golden.json'), 'utf8'));

describe.each(backendsWithKernels('rope', 'layerNormForward', 'layerNormBackward', 'rmsNormForward', 'rmsNormBackward', 'crossEntropyForward', 'crossEntropyBackward', 'unaryBackward'))('model kernels against PyTorch on %s', (name) => {
  const be = backend(name);

  describe('rope', () => {
    const g = golden.rope;
    const cases: [string, boolean, number][] = [['hf', false, 8], ['hfPartial4', false, 4], ['interleaved', true, 8], ['interleavedPartial4', true, 4]];
    it.each(cases)('%s', (key, interleaved, rotaryDim) => {
      const x = bufOf(be, g.x, 5);
      const p = {
        rows: g.rows, heads: g.heads, headDim: g.headDim, rotaryDim, rowStride: g.heads * g.headDim, x,
        positions: Int32Array.from(g.positions), theta: g.theta, interleaved, inverse: false,
      };
      be.kernels.get('rope', 'test')(p);
      expect(readBuf(be, x, g.x.length)).toAllClose(g[key], { atol: 2e-6, rtol: 0 });
      be.kernels.get('rope', 'test')({ ...p, inverse: true });  // the inverse rotation undoes it
      expect(readBuf(be, x, g.x.length)).toAllClose(g.x, { atol: 2e-6, rtol: 0 });
    });
  });

  it('layerNorm forward and backward', () => {
    const g = golden.layerNorm;
    const x = bufOf(be, g.x, 1), weight = bufOf(be, g.weight), bias = bufOf(be, g.bias, 2);
    const y = zerosBuf(be, g.rows * g.cols), mean = zerosBuf(be, g.rows), rstd = zerosBuf(be, g.rows, 3);
    const common = { rows: g.rows, cols: g.cols, x, weight, eps: g.eps };
    be.kernels.get('layerNormForward', 'test')({ ...common, bias, y, mean, rstd });
    expect(readBuf(be, y, g.rows * g.cols)).toAllClose(g.y, { atol: 1e-5 });
    const dx = zerosBuf(be, g.rows * g.cols), dweight = zerosBuf(be, g.cols), dbias = zerosBuf(be, g.cols);
    be.kernels.get('layerNormBackward', 'test')({ ...common, mean, rstd, dy: bufOf(be, g.dy), dx, dweight, dbias });
    expect(readBuf(be, dx, g.rows * g.cols)).toAllClose(g.dx, { atol: 1e-5 });
    expect(readBuf(be, dweight, g.cols)).toAllClose(g.dweight, { atol: 1e-5 });
    expect(readBuf(be, dbias, g.cols)).toAllClose(g.dbias, { atol: 1e-5 });
  });

  it('rmsNorm forward and backward (HF LlamaRMSNorm)', () => {
    const g = golden.rmsNorm;
    const x = bufOf(be, g.x), weight = bufOf(be, g.weight, 4);
    const y = zerosBuf(be, g.rows * g.cols), rstd = zerosBuf(be, g.rows);
    const common = { rows: g.rows, cols: g.cols, x, weight, eps: g.eps };
    be.kernels.get('rmsNormForward', 'test')({ ...common, y, rstd });
    expect(readBuf(be, y, g.rows * g.cols)).toAllClose(g.y, { atol: 1e-5 });
    const dx = zerosBuf(be, g.rows * g.cols), dweight = zerosBuf(be, g.cols);
    be.kernels.get('rmsNormBackward', 'test')({ ...common, rstd, dy: bufOf(be, g.dy), dx, dweight });
    expect(readBuf(be, dx, g.rows * g.cols)).toAllClose(g.dx, { atol: 1e-5 });
    expect(readBuf(be, dweight, g.cols)).toAllClose(g.dweight, { atol: 1e-5 });
  });

  it('crossEntropy with ignore_index, mean reduction by gradScale = 1 / counted', () => {
    const g = golden.crossEntropy;
    const logits = bufOf(be, g.logits, 7), losses = zerosBuf(be, g.rows), lse = zerosBuf(be, g.rows);
    const targets = Int32Array.from(g.targets);
    const counted = be.kernels.get('crossEntropyForward', 'test')({ rows: g.rows, vocab: g.vocab, logits, targets, ignoreIndex: g.ignoreIndex, losses, lse });
    expect(counted).toBe(3);
    expect(readBuf(be, losses, g.rows)).toAllClose(g.losses, { atol: 1e-5 });
    expect(readBuf(be, lse, g.rows)).toAllClose(g.lse, { atol: 1e-5 });
    const mean = Array.from(readBuf(be, losses, g.rows)).reduce((a, b) => a + b, 0) / counted;
    expect(mean).toBeCloseTo(g.mean, 5);
    const dlogits = bufOf(be, new Float32Array(g.rows * g.vocab).fill(NaN));
    be.kernels.get('crossEntropyBackward', 'test')({ rows: g.rows, vocab: g.vocab, logits, targets, ignoreIndex: g.ignoreIndex, lse, gradScale: 1 / counted, dlogits });
    expect(readBuf(be, dlogits, g.rows * g.vocab)).toAllClose(g.dlogitsMean, { atol: 1e-6 });
  });

  it.each(['gelu', 'gelu_tanh', 'silu', 'tanh', 'sigmoid'] as const)('unaryBackward %s', (op) => {
    const g = golden.unary;
    const n = g.x.length, dx = zerosBuf(be, n, 1);
    be.kernels.get('unaryBackward', 'test')({ op, x: bufOf(be, g.x, 2), dy: bufOf(be, new Float32Array(n).fill(1)), dx, n });
    expect(readBuf(be, dx, n)).toAllClose(g.grads[op], { atol: 1e-6, rtol: 1e-5 });
  });
});
