import { add, fromArray, setBackend, type Tensor, zeros } from '../../lib';
import { launchLoraBackward, launchLoraForward } from '../../lib/ops/lora/launch';
import { backendsUnderTest, backendsWithKernels, cpuPaths, randomTensor, withCpuPath } from '../helpers/backends';
import { oracleMany } from '../helpers/oracle';

const peftBackends = backendsWithKernels('loraForward', 'loraBackward');

// [T, K, N, r]: odd sizes, a rank bigger than the specialised ones, and sizes past the GEMM blocks.
const shapes: [number, number, number, number][] = [
  [1, 1, 1, 1], [3, 17, 3, 2], [17, 3, 17, 8], [1000, 17, 3, 16], [5, 1000, 7, 4], [33, 65, 130, 5], [130, 97, 65, 70],
  // a rank past the GEMM tail limit (96): the adapter segment gets blocks of its own
  [40, 50, 30, 100],
];

describe.each(peftBackends)('fused LoRA on %s', (name) => {
  beforeAll(() => setBackend(name));

  // On js itself the oracle comparison is an identity: there it runs on the small shapes only.
  it.each(name === 'js' ? shapes.slice(0, 3) : shapes)('T=%i K=%i N=%i r=%i: forward and backward match the oracle, with and without dropout', (T, K, N, r) => {
    for (const dropout of [0, 0.25]) {
      const x = randomTensor([T, K], T + K), w = randomTensor([N, K], N), bias = randomTensor([N], 7);
      const a = randomTensor([r, K], r), b = randomTensor([N, r], r + 1), dy = randomTensor([T, N], 9);
      const opts = { scale: 2 / r, dropout, seed: 1234, rowOffset: 5 };
      const run = (xs: Tensor[]) => {
        const [x_, w_, bias_, a_, b_, dy_] = xs;
        const { y, u } = launchLoraForward(x_, w_, bias_, a_, b_, opts);
        const g = launchLoraBackward(x_, w_, a_, b_, u, dy_, { ...opts, biasGrad: true });
        return [y, u, g.dx!, g.da, g.db, g.dbias!];
      };
      const expected = oracleMany([x, w, bias, a, b, dy], run);
      const got = run([x, w, bias, a, b, dy]);
      const names = ['y', 'u', 'dx', 'dA', 'dB', 'dbias'];
      const depth = [K, K, N + r, T, T, T];
      got.forEach((t, i) => {
        try {
          expect(t).toAllClose(expected[i], { atol: 2e-6 * Math.sqrt(depth[i]), rtol: 1e-4 });
        } catch (e) {
          throw new Error(`${names[i]} (dropout ${dropout}): ${(e as Error).message}`);
        }
      });
    }
  });

  it('with B = 0 the output is the base layer', () => {
    const x = randomTensor([4, 6], 1), w = randomTensor([5, 6], 2), bias = randomTensor([5], 3), a = randomTensor([2, 6], 4);
    const { y } = launchLoraForward(x, w, bias, a, zeros([5, 2]), { scale: 4 });
    const { y: base } = launchLoraForward(x, w, bias, zeros([2, 6]), zeros([5, 2]), { scale: 1 });
    expect(y).toAllClose(base, { atol: 0 });
  });

  it('adds a second adapter onto an existing output (w = null), equal to the sum of both deltas', () => {
    const x = randomTensor([6, 8], 1), w = randomTensor([4, 8], 2);
    const a1 = randomTensor([2, 8], 3), b1 = randomTensor([4, 2], 4), a2 = randomTensor([3, 8], 5), b2 = randomTensor([4, 3], 6);
    const { y } = launchLoraForward(x, w, null, a1, b1, { scale: 0.5 });
    launchLoraForward(x, null, null, a2, b2, { scale: 2 }, y);
    const { y: only1 } = launchLoraForward(x, w, null, a1, b1, { scale: 0.5 });
    const { y: only2 } = launchLoraForward(x, w, null, a2, b2, { scale: 2 });
    const { y: base } = launchLoraForward(x, w, null, a1, zeros([4, 2]), { scale: 1 });
    // y = base + d1 + d2 = only1 + only2 - base
    expect(y).toAllClose(add(only1, only2).toFloat32Array().map((v, i) => v - base.toFloat32Array()[i]), { atol: 1e-5 });
  });

  it('drops the same elements for a slice of rows as for the whole batch', () => {
    const x = randomTensor([6, 50], 1), w = randomTensor([3, 50], 2), a = randomTensor([2, 50], 3), b = randomTensor([3, 2], 4);
    const opts = { scale: 1, dropout: 0.5, seed: 99 };
    const whole = launchLoraForward(x, w, null, a, b, opts).u.toFloat32Array();
    const rows = launchLoraForward(x.slice(0, 2, 5).contiguous(), w, null, a, b, { ...opts, rowOffset: 2 }).u.toFloat32Array();
    expect(rows).toAllClose(whole.slice(4, 10), { atol: 1e-6 });
  });

  it('names the operation and the shapes on bad input', () => {
    const x = randomTensor([4, 6], 1);
    expect(() => launchLoraForward(x, randomTensor([5, 7], 2), null, randomTensor([2, 6], 3), randomTensor([5, 2], 4), { scale: 1 }))
      .toThrow('loraForward: W must be [5, 6], got [5, 7]');
    expect(() => launchLoraForward(x, randomTensor([5, 6], 2), null, randomTensor([2, 6], 3), randomTensor([5, 3], 4), { scale: 1 }))
      .toThrow('loraForward: B must be [5, 2], got [5, 3]');
    expect(() => launchLoraForward(x, randomTensor([5, 6], 2), null, randomTensor([2, 6], 3), randomTensor([5, 2], 4), { scale: 1, dropout: 1 }))
      .toThrow('loraForward: dropout must be in [0, 1), got 1');
    expect(() => launchLoraForward(x.T, randomTensor([5, 4], 2), null, randomTensor([2, 4], 3), randomTensor([5, 2], 4), { scale: 1 }))
      .toThrow('loraForward: x must be contiguous');
  });

  it('uses the values in a tiny hand-checked case', () => {
    // x = [1, 2], W = [[1, 0]], b = [0.5], A = [[1, 1]], B = [[2]], s = 0.5: y = 1 + 0.5 + 0.5 * 3 * 2 = 4.5
    const { y, u } = launchLoraForward(fromArray([[1, 2]]), fromArray([[1, 0]]), fromArray([0.5]), fromArray([[1, 1]]), fromArray([[2]]), { scale: 0.5 });
    expect(y.toArray()).toEqual([[4.5]]);
    expect(u.toArray()).toEqual([[3]]);
  });
});

const paths = cpuPaths();
if (paths.length === 0) console.log('skipping the CPU-path LoRA checks: the native addon is not loaded');

(paths.length > 0 ? describe : describe.skip)('native LoRA on every CPU path', () => {
  beforeAll(() => setBackend('native'));
  // 8, 16, 32 and 64 have register-blocked dy passes on AVX-512; T = 37 leaves row tails in both tasks.
  it.each(paths)('the %s path matches the oracle for ranks 8, 16, 32, 64 and an odd one', (path) => {
    for (const r of [8, 16, 32, 64, 5]) {
      const x = randomTensor([37, 29], r), w = randomTensor([23, 29], 2), a = randomTensor([r, 29], 3), b = randomTensor([23, r], 4);
      const dy = randomTensor([37, 23], 5);
      const run = ([x_, w_, a_, b_, dy_]: Tensor[]) => {
        const { y, u } = launchLoraForward(x_, w_, null, a_, b_, { scale: 0.5 });
        const g = launchLoraBackward(x_, w_, a_, b_, u, dy_, { scale: 0.5, biasGrad: true });
        return [y, g.dx!, g.da, g.db, g.dbias!];
      };
      const expected = oracleMany([x, w, a, b, dy], run);
      withCpuPath(path, () => run([x, w, a, b, dy])).forEach((t, i) => expect(t).toAllClose(expected[i], { atol: 2e-5, rtol: 1e-4 }));
    }
  });
});
