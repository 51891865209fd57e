/**
 * FourierFT's fast delta (lib/peft/tuners/fourierft/delta_op.ts over fast_dft.ts): the row transform equals a
 * direct double-precision DFT for factorable and prime lengths, complex and real input and output; the delta
 * equals real(ifft2(dense spectrum)) * scaling and the product of the frozen bases; the spectrum's gradient
 * equals the bases path's autograd gradient and central finite differences; the layer picks the transform
 * where it is cheaper (GPT-2-sized layers) and the bases for tiny ones.
 */
import { add, Conv1D, FourierFTLinear, fromArray, Linear, linear, memory, mul, noGrad, setBackend, sumAll, tidy } from '../../lib';
import type { FourierDeltaPath } from '../../lib/peft/tuners/fourierft/layer';
import { rowDft, rowDftPlan } from '../../lib/peft/tuners/fourierft/fast_dft';
import type { Tensor } from '../../lib/tensor/tensor';

afterAll(() => setBackend('native'));

/** Deterministic values in [-1, 1) (a small LCG), so each case is reproducible. */
function values(n: number, seed: number): Float32Array {
  let state = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 31 - 1;
  });
}

/** F Z with F[p, r] = e^{2 pi i p r / N}, in double: [re; im] planes. */
function directDft(re: Float32Array, im: Float32Array | null, n: number, m: number): Float64Array {
  const out = new Float64Array(2 * n * m);
  for (let p = 0; p < n; p++) for (let r = 0; r < n; r++) {
    const angle = (2 * Math.PI * ((p * r) % n)) / n, c = Math.cos(angle), s = Math.sin(angle);
    for (let q = 0; q < m; q++) {
      const zr = re[r * m + q], zi = im ? im[r * m + q] : 0;
      out[p * m + q] += c * zr - s * zi;
      out[(n + p) * m + q] += s * zr + c * zi;
    }
  }
  return out;
}

describe.each(['native', 'js'] as const)('the four-step row transform on %s', (backendName) => {
  beforeAll(() => setBackend(backendName));

  it.each([[1, 3], [3, 1], [12, 5], [17, 4], [96, 7], [1000, 3]])('N %i, M %i: equals the direct DFT (complex and real, in and out)', (n, m) => {
    const plan = rowDftPlan(n);
    expect(plan.n1 * plan.n2).toBe(n);
    const re = values(n * m, n + m), im = values(n * m, 7 * n + m);
    const want = directDft(re, im, n, m), wantReal = directDft(re, null, n, m);
    const tol = { atol: 2e-5 * Math.sqrt(n), rtol: 1e-4 };
    noGrad(() => {
      const z = fromArray(Float32Array.from([...re, ...im]), [2 * n, m]);
      expect(rowDft(z, plan, true)).toAllClose(fromArray(Float32Array.from(want), [2 * n, m]), tol);
      expect(rowDft(z, plan, false)).toAllClose(fromArray(Float32Array.from(want.subarray(0, n * m)), [n, m]), tol);
      const zr = fromArray(re, [n, m]);
      expect(rowDft(zr, plan, true)).toAllClose(fromArray(Float32Array.from(wantReal), [2 * n, m]), tol);
    });
  });

  it('keeps no tensor or storage of its own (views included) once its result is disposed', () => {
    const z = noGrad(() => fromArray(values(2 * 96 * 5, 1), [192, 5]));
    const before = memory();
    for (const complexOut of [false, true]) noGrad(() => rowDft(z, rowDftPlan(96), complexOut)).dispose();
    expect(memory()).toEqual(before);
    z.dispose();
  });

  it('a prime length is one plain product (N1 = 1); 768 splits as 24 x 32', () => {
    expect(rowDftPlan(17)).toEqual({ n: 17, n1: 1, n2: 17 });
    expect(rowDftPlan(768)).toEqual({ n: 768, n1: 24, n2: 32 });
    expect(() => rowDftPlan(0)).toThrow(/rowDftPlan: N must be a positive integer, got 0/);
    expect(() => noGrad(() => rowDft(fromArray(new Float32Array(6), [3, 2]), rowDftPlan(4), false))).toThrow(/rowDft: expected a contiguous \[4, M\] or \[8, M\] matrix, got \[3, 2\]/);
  });
});

function adapted(out: number, inF: number, f: number, conv1d = false): FourierFTLinear {
  const base = noGrad(() => (conv1d ? new Conv1D(inF, out) : new Linear(inF, out)));
  const layer = new FourierFTLinear(base);
  layer.addAdapter('default', { nFrequency: f, scaling: 7, randomLocSeed: 2024, initWeights: false });
  layer.setActiveAdapters(['default']);
  return layer;
}

/** d sum(delta * g) / d spectrum along one path. */
function spectrumGrad(layer: FourierFTLinear, path: FourierDeltaPath, g: Tensor): Float32Array {
  const s = layer.fourierft_spectrum.get('default');
  s.grad?.dispose();
  s.grad = null;
  const loss = sumAll(mul(layer.deltaWeight('default', path), g));
  loss.backward();
  return s.grad!.toFloat32Array();
}

describe.each(['native', 'js'] as const)('FourierFT\'s delta through the transform on %s', (backendName) => {
  beforeAll(() => setBackend(backendName));

  it.each([[5, 7, 12], [1, 3, 2], [3, 1, 3], [17, 9, 40], [64, 33, 200], [96, 17, 1000]])(
    'out %i, in %i, %i frequencies: real(ifft2) * scaling, the bases\' product, and their gradients', (out, inF, f) => {
      const layer = adapted(out, inF, f);
      const s = layer.fourierft_spectrum.get('default').toFloat32Array();
      const spec = layer.specs.get('default')!;
      const want = new Float64Array(out * inF);
      for (let a = 0; a < out; a++) for (let b = 0; b < inF; b++) {
        let acc = 0;
        for (let k = 0; k < f; k++) acc += s[k] * Math.cos(2 * Math.PI * (((a * spec.rows[k]) % out) / out + ((b * spec.cols[k]) % inF) / inF));
        want[a * inF + b] = (acc / (out * inF)) * 7;
      }
      const peak = Math.max(...want.map(Math.abs));
      const fast = noGrad(() => layer.deltaWeight('default', 'transform'));
      expect(fast).toAllClose(fromArray(Float32Array.from(want), [out, inF]), { atol: 1e-5 * peak, rtol: 1e-4 });
      expect(fast).toAllClose(noGrad(() => layer.deltaWeight('default', 'bases')), { atol: 1e-5 * peak, rtol: 1e-4 });

      const g = noGrad(() => fromArray(values(out * inF, out * 31 + inF), [out, inF]));
      const viaTransform = spectrumGrad(layer, 'transform', g), viaBases = spectrumGrad(layer, 'bases', g);
      const gPeak = Math.max(...viaBases.map(Math.abs));
      expect(fromArray(viaTransform, [f])).toAllClose(fromArray(viaBases, [f]), { atol: 1e-5 * gPeak, rtol: 1e-4 });
    });

  it('the spectrum\'s gradient matches central finite differences', () => {
    const layer = adapted(12, 10, 15);
    const g = noGrad(() => fromArray(values(120, 5), [12, 10]));
    const analytic = spectrumGrad(layer, 'transform', g);
    const lossAt = (): number => noGrad(() => sumAll(mul(layer.deltaWeight('default', 'transform'), g)).item());
    const h = 1e-2;
    for (const k of [0, 7, 14]) {
      const base = layer.fourierft_spectrum.get('default').toFloat32Array()[k];
      const set = (v: number) => noGrad(() => {
        const d = layer.fourierft_spectrum.get('default').toFloat32Array();
        d[k] = v;
        layer.fourierft_spectrum.get('default').dispose();
        layer.fourierft_spectrum.set('default', fromArray(d, [15]).requiresGrad_(true));
      });
      set(base + h);
      const up = lossAt();
      set(base - h);
      const down = lossAt();
      set(base);
      // delta is linear in the spectrum, so the difference quotient is exact up to float32 rounding
      expect(Math.abs((up - down) / (2 * h) - analytic[k])).toBeLessThan(1e-3 * Math.max(1, Math.abs(analytic[k])));
    }
  });

  it('a GPT-2-sized Conv1D runs forward and backward through the transform: the bases\' output and gradient', () => {
    const layer = adapted(192, 64, 300, true);
    expect(layer.deltaPath(300)).toBe('transform');
    const x = noGrad(() => fromArray(values(16 * 64, 9), [16, 64]));
    const want = noGrad(() => add(layer.base_layer.forward(x), linear(x, layer.deltaWeight('default', 'bases'))));
    const y = layer.forward(x);
    expect(noGrad(() => y.detach())).toAllClose(want, { atol: 1e-4, rtol: 1e-4 });
    const g = noGrad(() => fromArray(values(16 * 192, 4), [16, 192]));
    sumAll(mul(y, g)).backward();
    const s = layer.fourierft_spectrum.get('default');
    const viaTransform = s.grad!.toFloat32Array();
    s.grad = null;
    const yb = add(layer.base_layer.forward(x), linear(x, layer.deltaWeight('default', 'bases')));
    sumAll(mul(yb, g)).backward();
    const peak = Math.max(...s.grad!.toFloat32Array().map(Math.abs));
    expect(fromArray(viaTransform, [300])).toAllClose(s.grad!, { atol: 1e-5 * peak, rtol: 1e-4 });
  });

  it('leaves no tensor behind outside tidy: a forward + backward, and a delta under noGrad', () => {
    const layer = adapted(192, 64, 300);
    const x = noGrad(() => fromArray(values(8 * 64, 3), [8, 64]));
    const step = () => {
      tidy(() => {
        sumAll(layer.forward(x)).backward();
        noGrad(() => layer.deltaWeight('default', 'transform'));
      });
      const s = layer.fourierft_spectrum.get('default');
      s.grad?.dispose();
      s.grad = null;
    };
    step();
    const before = memory();
    for (let i = 0; i < 3; i++) step();
    expect(memory().numStorages).toBe(before.numStorages);
    expect(memory().numBytes).toBe(before.numBytes);
  });
});

describe('which path builds the delta', () => {
  it('GPT-2 small\'s c_attn with HF\'s 1000 frequencies: the transform; a 7x5 layer with 12: the bases', () => {
    setBackend('native');
    expect(adapted(2304, 768, 1000, true).deltaPath(1000)).toBe('transform');
    expect(adapted(768, 3072, 1000).deltaPath(1000)).toBe('transform');
    expect(adapted(5, 7, 12).deltaPath(12)).toBe('bases');
  });
});
