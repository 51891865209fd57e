/**
 * NaN and Inf through every op: each backend must propagate them as the js reference (and PyTorch) do,
 * never throw on them, and never turn them into finite values. Each case runs forward and backward on
 * inputs with NaN, +Inf and -Inf placed in them, and compares every output and gradient with the js
 * backend's: NaN where js has NaN, the same infinity where js has one, close values elsewhere.
 */
import {
  add, AdamW, attention, columnSum, crossEntropy, div, embedding, enableGrad, exp, fill_, fromArray, full, gelu, geluTanh,
  IGNORE_INDEX, intTensor, layerNorm, linear, log, matmul, max, mean, meanAll, mseLoss, mul, neg, relu, rmsNorm, rope, scale,
  setBackend, SGD, sigmoid, silu, softmax, sqrt, sub, sum, sumAll, tanh, type Tensor, withBackend, clipGradNorm, clipGradNormTensor, zeros,
} from '../../lib';
import { launchBitfitBackward } from '../../lib/ops/bitfit/launch';
import { launchDiffPruneForward } from '../../lib/ops/diff_prune/launch';
import { launchIa3Forward } from '../../lib/ops/ia3/launch';
import { launchLoraBackward, launchLoraForward } from '../../lib/ops/lora/launch';
import { backendsUnderTest, cpuPaths, hostRandom, withCpuPath } from '../helpers/backends';

/** Values in [-1, 1) from a seed with some entries replaced: {index: value}. */
function poisoned(n: number, seed: number, marks: Record<number, number> = {}): Float32Array {
  const v = hostRandom(n, seed);
  for (const [i, x] of Object.entries(marks)) v[Number(i) % n] = x;
  return v;
}

interface Case {
  name: string;
  /** Host inputs: [values, shape]; every input takes a gradient unless `noGrad` lists it. */
  inputs: [Float32Array, number[]][];
  noGrad?: number[];
  /** Outputs to compare (the loss seeds the backward as the sum of outputs[0] times fixed weights). */
  run: (xs: Tensor[]) => Tensor[];
  /** Whether to run backward through outputs[0] (default true). */
  backward?: boolean;
}

const I = NaN, P = Infinity, M = -Infinity;

const UNARY: [string, (t: Tensor) => Tensor][] = [
  ['exp', exp], ['log', log], ['tanh', tanh], ['gelu', gelu], ['geluTanh', geluTanh], ['silu', silu], ['relu', relu],
  ['neg', neg], ['sqrt', sqrt], ['sigmoid', sigmoid],
];

const CASES: Case[] = [
  { name: 'matmul', inputs: [[poisoned(5 * 37, 1, { 38: I, 70: P }), [5, 37]], [poisoned(37 * 19, 2, { 100: M }), [37, 19]]],
    run: ([a, b]) => [matmul(a, b)] },
  { name: 'linear with bias', inputs: [[poisoned(5 * 37, 3, { 0: I }), [5, 37]], [poisoned(19 * 37, 4), [19, 37]], [poisoned(19, 5, { 7: P }), [19]]],
    run: ([x, w, b]) => [linear(x, w, b)] },
  ...(['add', 'sub', 'mul', 'div'] as const).map((op): Case => ({
    name: `${op} broadcast`, inputs: [[poisoned(4 * 37, 6, { 1: I, 40: P, 80: M, 120: 0 }), [4, 37]], [poisoned(37, 7, { 3: I, 5: 0, 9: P }), [37]]],
    run: ([a, b]) => [{ add, sub, mul, div }[op](a, b)],
  })),
  { name: 'scale', inputs: [[poisoned(3 * 37, 8, { 2: I, 50: P, 90: M }), [3, 37]]], run: ([a]) => [scale(a, -2, 0.5)] },
  { name: 'scale by NaN', inputs: [[poisoned(3 * 37, 9), [3, 37]]], run: ([a]) => [scale(a, NaN)], backward: false },
  ...UNARY.map(([name, fn]): Case => ({
    name, inputs: [[poisoned(3 * 37, 10, { 0: I, 1: P, 2: M, 3: 0, 4: -0.5, 5: 100, 6: -100, 40: I, 80: P }), [3, 37]]],
    run: ([a]) => [fn(a)],
  })),
  ...([['sum', sum], ['max', max], ['mean', mean]] as const).map(([name, fn]): Case => ({
    name: `row ${name}`, inputs: [[poisoned(5 * 37, 11, { 3: I, 40: P, 80: M, 120: P, 121: M }), [5, 37]]],
    run: ([a]) => [fn(a, -1)], backward: name !== 'max',  // max records no gradient
  })),
  { name: 'sumAll / meanAll', inputs: [[poisoned(3 * 37, 12, { 7: I }), [3, 37]]], run: ([a]) => [sumAll(a), meanAll(a)] },
  { name: 'softmax', inputs: [[poisoned(5 * 37, 13, { 3: I, 40: P, 80: M, 81: M, 120: P, 121: P }), [5, 37]]], run: ([a]) => [softmax(a)] },
  { name: 'softmax of a row of -Inf', inputs: [[new Float32Array(2 * 17).fill(M).fill(0.5, 17), [2, 17]]], run: ([a]) => [softmax(a)] },
  { name: 'columnSum', inputs: [[poisoned(5 * 37, 14, { 3: I, 40: P, 80: M, 117: P }), [5, 37]]], run: ([a]) => [columnSum(a)] },
  { name: 'transpose copy', inputs: [[poisoned(5 * 37, 15, { 3: I, 40: P }), [5, 37]]], run: ([a]) => [a.transpose().contiguous()] },
  { name: 'full and fill_ with NaN and Inf', inputs: [], run: () => [full([3, 5], NaN), fill_(zeros([7]), P), full([2], M)], backward: false },
  { name: 'rmsNorm', inputs: [[poisoned(4 * 37, 16, { 3: I, 40: P }), [4, 37]], [poisoned(37, 17, { 30: M }), [37]]],
    run: ([x, w]) => [rmsNorm(x, w, 1e-5)] },
  { name: 'layerNorm', inputs: [[poisoned(4 * 37, 18, { 3: I, 40: P }), [4, 37]], [poisoned(37, 19), [37]], [poisoned(37, 20, { 5: I }), [37]]],
    run: ([x, w, b]) => [layerNorm(x, w, b, 1e-5)] },
  { name: 'embedding', inputs: [[poisoned(7 * 9, 21, { 10: I, 30: P }), [7, 9]]],
    run: ([t]) => [embedding(intTensor([1, 3, 1, 6, 0], [5]), t)] },
  { name: 'rope', inputs: [[poisoned(3 * 16, 22, { 1: I, 20: P }), [3, 16]]],
    run: ([x]) => [rope(x, { heads: 2, positions: new Int32Array([0, 5, 9]) })] },
  ...([['q', { 5: I }], ['k', { 19: I }], ['v', { 21: P }], ['q', { 40: M }]] as const).map(([which, marks]): Case => ({
    name: `causal attention, non-finite in ${which} ${JSON.stringify(marks)}`,
    inputs: (['q', 'k', 'v'] as const).map((n, i): [Float32Array, number[]] =>
      [poisoned(2 * 5 * 8, 23 + i, n === which ? marks : {}), [2, 5, 8]]),
    run: ([q, k, v]) => [attention(q, k, v, { qHeads: 2, causal: true })],
  })),
  { name: 'attention with a key mask hiding a key whose v is NaN, grouped-query heads',
    inputs: [[poisoned(2 * 5 * 8, 60), [2, 5, 8]], [poisoned(2 * 5 * 4, 61), [2, 5, 4]], [poisoned(2 * 5 * 4, 62, { 9: I, 30: P }), [2, 5, 4]]],
    run: ([q, k, v]) => [attention(q, k, v, { qHeads: 2, kvHeads: 1, causal: false, keyMask: new Int32Array([1, 1, 0, 1, 1, 1, 1, 1, 0, 1]) })] },
  { name: 'causal attention over two key tiles, NaN in a late v and Inf in an early k',
    inputs: [[poisoned(70 * 8, 67), [1, 70, 8]], [poisoned(70 * 8, 68, { 83: P }), [1, 70, 8]], [poisoned(70 * 8, 69, { [66 * 8 + 1]: I }), [1, 70, 8]]],
    run: ([q, k, v]) => [attention(q, k, v, { qHeads: 2, causal: true })] },
  { name: 'attention whose output gradient holds NaN and Inf', noGrad: [3],
    inputs: [...[63, 64, 65].map((seed): [Float32Array, number[]] => [poisoned(2 * 5 * 8, seed), [2, 5, 8]]),
      [poisoned(2 * 5 * 8, 66, { 12: I, 50: P }), [2, 5, 8]]],
    run: ([q, k, v, w]) => [mul(attention(q, k, v, { qHeads: 2, causal: true }), w)] },
  { name: 'crossEntropy on NaN and Inf logits', inputs: [[poisoned(4 * 11, 26, { 3: I, 15: P }), [4, 11]]],
    run: ([l]) => [crossEntropy(l, intTensor([2, 3, IGNORE_INDEX, 7], [4]))] },
  { name: 'crossEntropy with every label ignored', inputs: [[poisoned(3 * 11, 27), [3, 11]]],
    run: ([l]) => [crossEntropy(l, intTensor([IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX], [3]))] },
  { name: 'crossEntropy on 0 rows', inputs: [[new Float32Array(0), [0, 11]]], run: ([l]) => [crossEntropy(l, intTensor([], [0]))] },
  { name: 'mseLoss', inputs: [[poisoned(3 * 7, 28, { 4: I }), [3, 7]], [poisoned(3 * 7, 29, { 9: P }), [3, 7]]], run: ([a, b]) => [mseLoss(a, b)] },
  { name: 'LoRA forward and backward', noGrad: [0, 1, 2, 3, 4],
    inputs: [[poisoned(6 * 37, 30, { 3: I, 100: P }), [6, 37]], [poisoned(19 * 37, 31), [19, 37]], [poisoned(8 * 37, 32, { 50: M }), [8, 37]],
      [poisoned(19 * 8, 33), [19, 8]], [poisoned(6 * 19, 34, { 20: I }), [6, 19]]],
    run: ([x, w, a, b, dy]) => {
      const { y, u } = launchLoraForward(x, w, null, a, b, { scale: 2 });
      const g = launchLoraBackward(x, w, a, b, u, dy, { scale: 2 });
      return [y, u, g.dx!, g.da, g.db];
    }, backward: false },
  { name: 'IA3 forward', noGrad: [0, 1, 2],
    inputs: [[poisoned(6 * 37, 35, { 3: I }), [6, 37]], [poisoned(19 * 37, 36), [19, 37]], [poisoned(19, 37, { 4: P }), [19]]],
    run: ([x, w, l]) => [launchIa3Forward(x, w, null, l, 'output').y], backward: false },
  { name: 'diff pruning forward', noGrad: [0, 1, 2],
    inputs: [[poisoned(37, 38, { 3: I }), [37]], [poisoned(37, 39, { 9: P }), [37]], [poisoned(37, 40), [37]]],
    run: ([w, d, la]) => [launchDiffPruneForward(w, d, la, { training: false }).w], backward: false },
  { name: 'BitFit backward', noGrad: [0, 1],
    inputs: [[poisoned(6 * 19, 41, { 3: I, 30: P }), [6, 19]], [poisoned(19 * 37, 42), [19, 37]]],
    run: ([dy, w]) => { const g = launchBitfitBackward(dy, w, { inputGrad: true }); return [g.dx!, g.dbias]; }, backward: false },
];

/** Runs a case on the active backend; returns every compared array (outputs, then input gradients). */
function runCase(c: Case): Float32Array[] {
  const xs = c.inputs.map(([v, shape], i) => {
    const t = fromArray(v, shape);
    t.requiresGrad = c.backward !== false && !(c.noGrad ?? []).includes(i);
    return t;
  });
  return enableGrad(() => {
    const outs = c.run(xs);
    const values = outs.map((o) => o.toFloat32Array());
    if (c.backward !== false && xs.some((x) => x.requiresGrad)) {
      const weights = fromArray(hostRandom(outs[0].size, 99), [...outs[0].shape]);
      sumAll(mul(outs[0], weights)).backward();
      for (const x of xs) if (x.requiresGrad) values.push(x.grad ? x.grad.toFloat32Array() : new Float32Array(0));
    }
    return values;
  });
}

/** The first index where a and b disagree on NaN, on an infinity, or by more than the tolerance; -1 if none. */
function firstMismatch(a: Float32Array, b: Float32Array): number {
  for (let i = 0; i < a.length; i++) {
    const x = a[i], y = b[i];
    if (Number.isNaN(x) || Number.isNaN(y)) { if (Number.isNaN(x) !== Number.isNaN(y)) return i; continue; }
    if (!Number.isFinite(x) || !Number.isFinite(y)) { if (x !== y) return i; continue; }
    if (Math.abs(x - y) > 1e-4 + 1e-3 * Math.abs(y)) return i;
  }
  return -1;
}

describe.each(backendsUnderTest())('non-finite values on %s match the js reference', (name) => {
  beforeAll(() => setBackend(name));
  afterAll(() => setBackend('js'));

  it.each(CASES.map((c) => [c.name, c] as const))('%s', (_, c) => {
    const expected = withBackend('js', () => runCase(c));
    const actual = runCase(c);
    expect(actual.length).toBe(expected.length);
    actual.forEach((a, k) => {
      expect(a.length).toBe(expected[k].length);
      const i = firstMismatch(a, expected[k]);
      if (i >= 0) throw new Error(`${c.name}: array ${k} differs at ${i}: ${name} ${a[i]}, js ${expected[k][i]}`);
    });
  });

  it('clipGradNorm on NaN gradients returns NaN and scales every gradient to NaN, as torch does', () => {
    const p = fromArray(poisoned(40, 50), [40]);
    p.grad = fromArray(poisoned(40, 51, { 7: I }), [40]);
    const q = fromArray(poisoned(9, 52), [9]);
    q.grad = fromArray(poisoned(9, 53), [9]);
    expect(clipGradNorm([p, q], 1)).toBeNaN();
    expect(q.grad.toFloat32Array().every(Number.isNaN)).toBe(true);
  });

  it('clipGradNormTensor (the device path) keeps that: a NaN norm, and every gradient NaN', () => {
    const p = fromArray(poisoned(40, 50), [40]);
    p.grad = fromArray(poisoned(40, 51, { 7: I }), [40]);
    const q = fromArray(poisoned(9, 52), [9]);
    q.grad = fromArray(poisoned(9, 53), [9]);
    expect(clipGradNormTensor([p, q], 1).item()).toBeNaN();
    expect(q.grad.toFloat32Array().every(Number.isNaN)).toBe(true);
  });

  it.each([['AdamW', (ps: Tensor[]) => new AdamW(ps, { lr: 0.1 })], ['SGD', (ps: Tensor[]) => new SGD(ps, { lr: 0.1, momentum: 0.9 })]] as const)(
    '%s turns a NaN gradient into a NaN parameter where js does', (_, make) => {
      const step = () => {
        const p = fromArray(poisoned(37, 54), [37]);
        p.requiresGrad = true;
        p.grad = fromArray(poisoned(37, 55, { 3: I, 9: P }), [37]);
        make([p]).step();
        return p.toFloat32Array();
      };
      const expected = withBackend('js', step);
      expect(firstMismatch(step(), expected)).toBe(-1);
      expect(expected[3]).toBeNaN();
    });
});

const ATTENTION_CASES = CASES.filter((c) => c.name.includes('attention'));
const NATIVE_PATHS = backendsUnderTest().includes('native') ? cpuPaths() : [];
if (NATIVE_PATHS.length === 0) console.log('skipping non-finite attention per CPU path: the native backend is absent');

describe.each(NATIVE_PATHS)('non-finite attention on the native %s path matches the js reference', (path) => {
  beforeAll(() => setBackend('native'));
  afterAll(() => setBackend('js'));

  it.each(ATTENTION_CASES.map((c) => [c.name, c] as const))('%s', (_, c) => {
    const expected = withBackend('js', () => runCase(c));
    const actual = withCpuPath(path, () => runCase(c));
    actual.forEach((a, k) => {
      const i = firstMismatch(a, expected[k]);
      if (i >= 0) throw new Error(`${c.name}: array ${k} differs at ${i}: ${path} ${a[i]}, js ${expected[k][i]}`);
    });
  });
});

describe.each(backendsUnderTest())('PyTorch semantics of NaN and Inf on %s', (name) => {
  beforeAll(() => setBackend(name));
  afterAll(() => setBackend('js'));
  const values = (t: Tensor) => Array.from(t.toFloat32Array());

  it('relu keeps NaN (torch.relu), max propagates it, softmax of a fully hidden row is NaN', () => {
    const x = fromArray(new Float32Array([NaN, P, M, 0, -0.5]), [1, 5]);
    expect(values(relu(x))).toEqual([NaN, P, 0, 0, 0]);
    expect(values(max(x, -1))).toEqual([NaN]);
    expect(values(softmax(fromArray(new Float32Array([M, M]), [1, 2])))).toEqual([NaN, NaN]);
    expect(values(exp(x))).toEqual([NaN, P, 0, 1, Math.fround(Math.exp(-0.5))]);
  });

  it('crossEntropy is NaN, not an error, on NaN logits, all-ignored labels and no rows', () => {
    const logits = fromArray(new Float32Array([0.1, NaN, 0.3, 0.2, 0.5, 0.1]), [2, 3]);
    expect(crossEntropy(logits, intTensor([0, 1], [2])).item()).toBeNaN();
    expect(crossEntropy(logits, intTensor([IGNORE_INDEX, IGNORE_INDEX], [2])).item()).toBeNaN();
    expect(crossEntropy(zeros([0, 3]), intTensor([], [0])).item()).toBeNaN();
  });
});
