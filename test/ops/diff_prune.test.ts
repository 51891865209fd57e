import { fromArray, fromSparse, full, projectToDensity, setBackend, type Tensor, toSparse, zeros } from '../../lib';
import { launchDiffPruneBackward, launchDiffPruneForward } from '../../lib/ops/diff_prune/launch';
import { backendsUnderTest, backendsWithKernels, cpuPaths, randomTensor, withCpuPath } from '../helpers/backends';
import { oracleMany } from '../helpers/oracle';

const peftBackends = backendsWithKernels('diffPruneForward', 'diffPruneBackward', 'projectTopK');

describe.each(peftBackends)('diff pruning on %s', (name) => {
  beforeAll(() => setBackend(name));

  it.each([1, 3, 17, 1000, 40000])('n=%i: gates, penalty and gradients match the oracle, per-parameter and structured', (n) => {
    for (const structured of [false, true]) for (const training of [true, false]) {
      const w = randomTensor([n], 1), delta = randomTensor([n], 2), dw = randomTensor([n], 3);
      const logAlpha = structured ? fromArray([0.3]) : randomTensor([n], 4);
      const opts = { training, seed: 77, lambda: 0.1 };
      let penalty = 0;
      const run = ([w_, d_, la_, dw_]: Tensor[]) => {
        const f = launchDiffPruneForward(w_, d_, la_, opts);
        penalty = f.penalty;
        const g = launchDiffPruneBackward(dw_, d_, la_, opts);
        return [f.w, f.z, g.dDelta, g.dLogAlpha];
      };
      const expected = oracleMany([w, delta, logAlpha, dw], run);
      const expectedPenalty = penalty;
      run([w, delta, logAlpha, dw]).forEach((t, i) => expect(t).toAllClose(expected[i], { atol: 1e-5 * (structured && i === 3 ? Math.sqrt(n) : 1), rtol: 1e-4 }));
      expect(penalty).toBeCloseTo(expectedPenalty, 3);
    }
  });

  it('gates open fully at large log_alpha in eval mode, and the penalty counts them', () => {
    const w = fromArray([1, 2, 3]), delta = fromArray([1, 1, 1]);
    const { w: out, penalty } = launchDiffPruneForward(w, delta, full([3], 20), { training: false });
    expect(out.toArray()).toEqual([2, 3, 4]);
    expect(penalty).toBeCloseTo(3, 5);
    expect(launchDiffPruneForward(w, delta, full([3], -20), { training: false }).w.toArray()).toEqual([1, 2, 3]);
  });

  it('projects to a target density by magnitude and round-trips through the sparse form', () => {
    const v = fromArray([0.1, -5, 3, 0, -3, 2, 0.5, 4]);
    projectToDensity(v, 0.5);
    expect(v.toArray()).toEqual([0, -5, 3, 0, -3, 0, 0, 4]);
    const sparse = toSparse(v);
    expect(Array.from(sparse.indices)).toEqual([1, 2, 4, 7]);
    expect(fromSparse(sparse).toArray()).toEqual(v.toArray());
    const big = randomTensor([1000], 5);
    projectToDensity(big, 0.1);
    expect(toSparse(big).indices.length).toBe(100);
    expect(() => fromSparse({ shape: [2], indices: [5], values: [1] })).toThrow('fromSparse: index 5 is outside a tensor of 2 elements');
    expect(zeros([1]).size).toBe(1);
  });

  it.each([1, 17, 1000])('n=%i: the backward from the forward\'s gates equals the one that redraws them', (n) => {
    for (const structured of [false, true]) for (const training of [true, false]) for (const lambda of [0, 0.3]) {
      const delta = randomTensor([n], 2), dw = randomTensor([n], 3);
      const logAlpha = structured ? fromArray([0.3]) : fromArray(Float32Array.from(randomTensor([n], 4).toFloat32Array(), (v) => v * 4));
      const opts = { training, seed: 31, lambda, gate: { gamma: -0.1, zeta: 1.1, beta: 2 / 3 } };
      const { z } = launchDiffPruneForward(randomTensor([n], 1), delta, logAlpha, opts);
      const redrawn = launchDiffPruneBackward(dw, delta, logAlpha, opts);
      const kept = launchDiffPruneBackward(dw, delta, logAlpha, { ...opts, gates: z });
      expect(kept.dDelta).toAllClose(redrawn.dDelta, { atol: 1e-6, rtol: 1e-6 });
      expect(kept.dLogAlpha).toAllClose(redrawn.dLogAlpha, { atol: 1e-5 * (structured ? Math.sqrt(n) : 1), rtol: 1e-4 });
    }
  });

  it('rejects gates of the wrong shape', () => {
    expect(() => launchDiffPruneBackward(zeros([4]), zeros([4]), zeros([4]), { training: true, lambda: 0, gates: zeros([3]) }))
      .toThrow('diffPruneBackward: gates must be [4], got [3]');
  });

  it('rejects a log_alpha of the wrong size', () => {
    expect(() => launchDiffPruneForward(zeros([4]), zeros([4]), zeros([3]), { training: true }))
      .toThrow('diffPruneForward: logAlpha must have 1 (structured) or 4 elements, got [3]');
  });
});

const paths = cpuPaths();
if (paths.length === 0) console.log('skipping the CPU-path diff-pruning checks: the native addon is not loaded');

(paths.length > 0 ? describe : describe.skip)('native diff pruning on every CPU path', () => {
  beforeAll(() => setBackend('native'));
  // beta = 1 takes a closed form with one exp per gate (the default); any other beta the general path.
  it.each(paths)('the %s gates match the oracle, including saturated ones, at beta 1 and 2/3', (path) => {
    const n = 3001;
    const w = randomTensor([n], 1), delta = randomTensor([n], 2), dw = randomTensor([n], 3);
    const la = fromArray(Float32Array.from(randomTensor([n], 4).toFloat32Array(), (v) => v * 12));  // many gates at 0 or 1
    for (const training of [true, false]) for (const beta of [1, 2 / 3]) {
      const opts = { training, seed: 5, lambda: 0.2, gate: { gamma: -0.1, zeta: 1.1, beta } };
      const run = ([w_, d_, la_, dw_]: Tensor[]) => {
        const f = launchDiffPruneForward(w_, d_, la_, opts);
        const g = launchDiffPruneBackward(dw_, d_, la_, opts);
        const kept = launchDiffPruneBackward(dw_, d_, la_, { ...opts, gates: f.z });
        return [f.w, f.z, g.dDelta, g.dLogAlpha, kept.dDelta, kept.dLogAlpha];
      };
      const expected = oracleMany([w, delta, la, dw], run);
      withCpuPath(path, () => run([w, delta, la, dw])).forEach((t, i) => expect(t).toAllClose(expected[i], { atol: 2e-5, rtol: 1e-4 }));
    }
  });

  // 2^22 parameters and up stream their outputs past the cache (non-temporal stores). Gates depend only
  // on (seed, index, log_alpha), so the first entries of a streamed call must match a small call on the
  // same prefix (checked against the oracle above); the backward is elementwise, so its last entries must
  // match a call on the sliced inputs. The odd size leaves a tail and an unaligned second-thread half.
  it('streams the outputs of a tensor of 2^22 + 5 parameters with the values of the cached path', () => {
    const n = (1 << 22) + 5, m = 3001;
    const [w, delta, dw, la] = [1, 2, 3, 4].map((seed) => randomTensor([n], seed).toFloat32Array());
    const t = (a: Float32Array) => fromArray(a);
    const opts = { training: true, seed: 5, lambda: 0.2 };
    // One ulp of room: an entry can fall in a vector block on one side and in a scalar tail on the other.
    const same = { atol: 1e-7, rtol: 1e-6 };
    const big = launchDiffPruneForward(t(w), t(delta), t(la), opts);
    const bigGrad = launchDiffPruneBackward(t(dw), t(delta), t(la), { ...opts, gates: big.z });
    const head = launchDiffPruneForward(t(w.subarray(0, m)), t(delta.subarray(0, m)), t(la.subarray(0, m)), opts);
    expect(t(big.w.toFloat32Array().subarray(0, m))).toAllClose(head.w, same);
    expect(t(big.z.toFloat32Array().subarray(0, m))).toAllClose(head.z, same);
    const tail = (a: Float32Array) => t(a.subarray(n - m));
    const tailGrad = launchDiffPruneBackward(tail(dw), tail(delta), tail(la), { ...opts, gates: tail(big.z.toFloat32Array()) });
    expect(tail(bigGrad.dDelta.toFloat32Array())).toAllClose(tailGrad.dDelta, same);
    expect(tail(bigGrad.dLogAlpha.toFloat32Array())).toAllClose(tailGrad.dLogAlpha, same);
  });
});
