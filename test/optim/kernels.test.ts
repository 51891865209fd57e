/** The optimizer kernels on every CPU backend against the js reference, on odd sizes and several steps. */
import { backend, type Buf, fromArray, setBackend, type Tensor, withBackend } from '../../lib';
import { backendsUnderTest, backendsWithKernels, hostRandom, ODD_SIZES } from '../helpers/backends';

const cpuBackends = backendsWithKernels('adamwStep', 'sgdStep', 'sumSquares');

/** Host arrays run through `kernel` on backend `name`; returns the arrays after the calls. */
function runOn(name: 'js' | 'native' | 'cuda', arrays: Float32Array[], kernel: (bufs: Buf[]) => void): Float32Array[] {
  return withBackend(name, () => {
    const ts: Tensor[] = arrays.map((a) => fromArray(a, [a.length]));
    kernel(ts.map((t) => t.buf()));
    const out = ts.map((t) => t.toFloat32Array());
    ts.forEach((t) => t.dispose());
    return out;
  });
}

describe.each(cpuBackends)('optimizer kernels on %s', (name) => {
  beforeAll(() => setBackend(name));
  const b = () => backend(name);
  const js = backend('js');

  it.each(ODD_SIZES)('adamwStep n=%i matches the reference over 7 steps', (n) => {
    const arrays = [hostRandom(n, 1), new Float32Array(n), new Float32Array(n)];
    const steps = (bk: typeof js) => (bufs: Buf[]) => {
      for (let step = 1; step <= 7; step++) {
        const g = fromArray(hostRandom(n, 100 + step), [n]);
        bk.kernels.get('adamwStep', 'test')({ n, param: bufs[0], grad: g.buf(), m: bufs[1], v: bufs[2], lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1, step });
        g.dispose();
      }
    };
    const got = runOn(name, arrays, steps(b()));
    const want = runOn('js', arrays, steps(js));
    got.forEach((g, i) => expect(g).toAllClose(want[i], { atol: 1e-7, rtol: 1e-6 }));
  });

  const sgdCases = [
    { momentum: 0, dampening: 0, nesterov: false, weightDecay: 0 },
    { momentum: 0, dampening: 0, nesterov: false, weightDecay: 0.01 },
    { momentum: 0.9, dampening: 0, nesterov: false, weightDecay: 0 },
    { momentum: 0.9, dampening: 0, nesterov: true, weightDecay: 0.01 },
    { momentum: 0.8, dampening: 0.5, nesterov: false, weightDecay: 0.01 },
  ];
  describe.each(sgdCases)('sgdStep %o', (opts) => {
    it.each(ODD_SIZES)('n=%i matches the reference over 4 steps and leaves the grad alone', (n) => {
      const grad = hostRandom(n, 7);
      const arrays = [hostRandom(n, 3), grad, new Float32Array(n)];
      const steps = (bk: typeof js) => (bufs: Buf[]) => {
        for (let s = 0; s < 4; s++)
          bk.kernels.get('sgdStep', 'test')({ n, param: bufs[0], grad: bufs[1], momentumBuf: opts.momentum ? bufs[2] : null, lr: 0.1, ...opts, firstStep: s === 0 });
      };
      const got = runOn(name, arrays, steps(b()));
      const want = runOn('js', arrays, steps(js));
      got.forEach((g, i) => expect(g).toAllClose(want[i], { atol: 1e-7, rtol: 1e-6 }));
      expect(got[1]).toEqual(grad);
    });
  });

  it.each([...ODD_SIZES, 100_003])('sumSquares n=%i matches a double-precision sum', (n) => {
    const x = hostRandom(n, 11);
    let want = 0;
    for (const v of x) want += v * v;
    const t = fromArray(x, [n]);
    expect(Math.abs(b().kernels.get('sumSquares', 'test')({ x: t.buf(), n }) - want)).toBeLessThanOrEqual(1e-12 * want);
    expect(b().kernels.get('sumSquares', 'test')({ x: t.buf(), n: 0 })).toBe(0);
    t.dispose();
  });

  it('reads from a buffer offset', () => {
    const t = fromArray([5, 1, 2, 3], [4]);
    expect(b().kernels.get('sumSquares', 'test')({ x: { storage: t.storage, offset: 1 }, n: 3 })).toBe(14);
    t.dispose();
  });
});
