/** Finite differences in float64 (js backend) against backward() for every differentiable op. */
import {
  add, attention, columnSum, concat, crossEntropy, div, dropout, embedding, exp, gelu, geluTanh, layerNorm, linear, log, matmul,
  mean, mseLoss, mul, neg, relu, rmsNorm, rope, scale, sigmoid, silu, softmax, sqrt, sub, sum, tanh, type Tensor,
} from '../../lib';
import { gradcheck } from '../helpers/gradcheck';

const ids = (values: number[], shape: number[]) => ({ data: Int32Array.from(values), shape });

describe('autograd against float64 finite differences', () => {
  const cases: [string, Parameters<typeof gradcheck>[0]][] = [
    ['matmul', { inputs: [{ shape: [3, 4] }, { shape: [4, 5] }], fn: (a, b) => matmul(a, b) }],
    ['matmul of transposed views with bias', { inputs: [{ shape: [4, 3] }, { shape: [5, 4] }, { shape: [5] }], fn: (a, b, c) => matmul(a.T, b.T, { bias: c, alpha: 0.5 }) }],
    ['linear (3-D input, bias)', { inputs: [{ shape: [2, 3, 4] }, { shape: [5, 4] }, { shape: [5] }], fn: (x, w, b) => linear(x, w, b) }],
    ['matmul with a constant left operand', { inputs: [{ shape: [2, 3], grad: false }, { shape: [3, 4] }], fn: (a, b) => matmul(a, b) }],
    ['matmul with a constant right operand', { inputs: [{ shape: [2, 3] }, { shape: [3, 4], grad: false }], fn: (a, b) => matmul(a, b) }],
    ['linear with a frozen weight', { inputs: [{ shape: [3, 4] }, { shape: [2, 4], grad: false }], fn: (x, w) => linear(x, w) }],
    ['linear through a transposed weight (Conv1D)', { inputs: [{ shape: [3, 4] }, { shape: [4, 6] }, { shape: [6] }], fn: (x, w, b) => linear(x, w.T, b) }],
    ['add / sub / mul / div same shape', { inputs: [{ shape: [3, 4] }, { shape: [3, 4], offset: 3 }], fn: (a, b) => div(mul(add(a, b), sub(a, b)), b) }],
    ['row broadcast', { inputs: [{ shape: [2, 3, 4] }, { shape: [4], offset: 2 }], fn: (a, b) => div(mul(add(a, b), b), b) }],
    ['scalar operands and scale', { inputs: [{ shape: [3, 5] }], fn: (a) => scale(add(mul(a, 3), 1), -2, 0.5) }],
    ['exp log sqrt', { inputs: [{ shape: [7], offset: 2 }], fn: (a) => sqrt(log(exp(a))) }],
    ['tanh sigmoid neg', { inputs: [{ shape: [9] }], fn: (a) => neg(sigmoid(tanh(a))) }],
    ['gelu geluTanh silu', { inputs: [{ shape: [11], scale: 3 }], fn: (a) => add(add(gelu(a), geluTanh(a)), silu(a)) }],
    ['relu (away from 0)', { inputs: [{ shape: [8], offset: 0.05 }], fn: (a) => relu(a) }],
    ['sum and mean of the last dim', { inputs: [{ shape: [3, 4] }], fn: (a) => add(sum(a, -1, true), mean(a, -1, true)) }],
    ['softmax', { inputs: [{ shape: [3, 6], scale: 2 }], fn: (a) => softmax(a) }],
    ['views: reshape, transpose, permute, slice, contiguous', {
      inputs: [{ shape: [2, 3, 4] }], fn: (a) => a.permute([2, 0, 1]).slice(0, 1, 3).transpose(1, 2).contiguous().reshape([2, 6]),
    }],
    ['columnSum', { inputs: [{ shape: [5, 3] }], fn: (a) => columnSum(a) }],
    ['concat along the middle dimension', { inputs: [{ shape: [2, 1, 3] }, { shape: [2, 3, 3] }], fn: (a, b) => concat([a, b], 1) }],
    ['rmsNorm', { inputs: [{ shape: [3, 8] }, { shape: [8], offset: 1 }], fn: (x, w) => rmsNorm(x, w, 1e-6) }],
    ['layerNorm', { inputs: [{ shape: [3, 8] }, { shape: [8], offset: 1 }, { shape: [8] }], fn: (x, w, b) => layerNorm(x, w, b, 1e-5) }],
    ['embedding (a repeated id accumulates)', { inputs: [{ shape: [5, 3] }], fn: (t) => embedding(ids([1, 4, 1, 0], [2, 2]), t) }],
    ['rope, rotate_half', { inputs: [{ shape: [2, 3, 8] }], fn: (x) => rope(x, { heads: 2, positions: Int32Array.from([0, 1, 2, 5, 6, 7]) }) }],
    ['rope, interleaved', { inputs: [{ shape: [1, 3, 8] }], fn: (x) => rope(x, { heads: 1, positions: Int32Array.from([3, 1, 2]), interleaved: true }) }],
    ['attention, causal with grouped heads', {
      inputs: [{ shape: [2, 3, 8] }, { shape: [2, 3, 4] }, { shape: [2, 3, 4] }],
      fn: (q, k, v) => attention(q, k, v, { qHeads: 4, kvHeads: 2, causal: true }),
    }],
    ['attention over a padding mask and strided q/k/v of one qkv', {
      inputs: [{ shape: [2, 4, 12] }],
      fn: (qkv) => attention(qkv.slice(2, 0, 4), qkv.slice(2, 4, 8), qkv.slice(2, 8, 12), { qHeads: 2, causal: false, keyMask: Int32Array.from([1, 1, 1, 0, 1, 1, 0, 0]) }),
    }],
    ['cross-entropy with ignored rows', { inputs: [{ shape: [4, 5], scale: 2 }], fn: (l) => crossEntropy(l, ids([2, -100, 0, 4], [4])) }],
    ['mse', { inputs: [{ shape: [3, 3] }, { shape: [3, 3] }], fn: (a, b) => mseLoss(a, b) }],
    ['dropout with a fixed seed', { inputs: [{ shape: [4, 6] }], fn: (a) => dropout(a, 0.3, true, { seed: 7 }) }],
    ['a shared input used twice', { inputs: [{ shape: [3, 3] }], fn: (a: Tensor) => matmul(a, a) }],
  ];

  it.each(cases)('%s', (_name, c) => {
    expect(gradcheck(c)).toBeLessThan(1e-5);
  });
});
