/**
 * The fused LoHa and LoKr forward terms (lib/peft/tuners/loha/hada_op.ts, lib/peft/tuners/lokr/kron_linear_op.ts):
 * finite-difference gradients in float64 on odd shapes (1, 3, 17 rows; non-square), and, on every backend
 * present, the same output and the same gradient for x and every factor (1e-5) as the generic autograd path
 * they replace (linear(x, deltaWeight) with matmul/mul/kron), for the ops and for whole LoHaLinear / LoKrLinear
 * layers (fusedDelta true against false, rank_dropout and module_dropout included). Prints the time of one
 * forward + backward of a d = 768, T = 2048 layer both ways.
 */
import {
  add, fromArray, kron, Linear, linear, LoHaLinear, LoKrLinear, manualSeed, matmul, mul, scale, setBackend, sumAll, type Tensor, tidy, withBackend,
} from '../../lib';
import { hadaCosts, hadaLinear, hadaPath, type HadaPath } from '../../lib/peft/tuners/loha/hada_op';
import type { LycorisSpec } from '../../lib/peft/tuners/loha/lycoris';
import { kronLinear } from '../../lib/peft/tuners/lokr/kron_linear_op';
import { lokrShapes } from '../../lib/peft/tuners/lokr/factorization';
import { backendsUnderTest, hostRandom } from '../helpers/backends';
import { gradcheck } from '../helpers/gradcheck';

beforeAll(() => setBackend('native'));

/** The paths the fused ops replace, as LoHaLinear.deltaWeight / LoKrLinear.deltaWeight build dW. */
const refHada = (x: Tensor, a1: Tensor, b1: Tensor, a2: Tensor, b2: Tensor, s: number) =>
  linear(x, mul(matmul(a1, b1, { alpha: s }), matmul(a2, b2)));
const refKron = (x: Tensor, w1: Tensor, w2: Tensor, s: number) => linear(x, scale(kron(w1, w2), s));

const PATHS: HadaPath[] = ['khatriRao', 'dense'];

describe('hadaLinear: finite differences (float64, js)', () => {
  afterAll(() => setBackend('native')); // gradcheck leaves the js backend active
  // [x shape, out, r]: rows 1, 3, 17; in != out; a rank-3 x; 40 rows on r = 1, where the dense path rebuilds
  // W1 and W2 in the backward instead of keeping them (rows >= 16 r).
  const cases: [number[], number, number][] = [[[1, 6], 10, 3], [[3, 5], 2, 1], [[17, 7], 4, 2], [[1, 3, 6], 5, 2], [[40, 5], 3, 1]];
  describe.each(PATHS)('%s path', (path) => {
    it.each(cases)('x %j, out %i, r %i', (xShape, out, r) => {
      const inF = xShape[xShape.length - 1];
      gradcheck({
        inputs: [{ shape: xShape }, { shape: [out, r] }, { shape: [r, inF] }, { shape: [out, r] }, { shape: [r, inF] }],
        fn: (x, a1, b1, a2, b2) => hadaLinear(x, a1, b1, a2, b2, 0.7, path),
      });
    });
    it('only the inputs that need a gradient get one (x and b2 frozen)', () => {
      gradcheck({
        inputs: [{ shape: [3, 6], grad: false }, { shape: [4, 2] }, { shape: [2, 6] }, { shape: [4, 2] }, { shape: [2, 6], grad: false }],
        fn: (x, a1, b1, a2, b2) => hadaLinear(x, a1, b1, a2, b2, 1.5, path),
      });
    });
  });
});

describe('kronLinear: finite differences (float64, js)', () => {
  afterAll(() => setBackend('native'));
  // [x shape, a, c, b, d]: in = c d, out = a b; rows 1, 3, 17; non-square factors and a rank-3 x.
  const cases: [number[], number, number, number, number][] = [
    [[1, 6], 2, 3, 5, 2], [[3, 4], 1, 4, 3, 1], [[17, 6], 3, 2, 2, 3], [[2, 3, 10], 4, 5, 1, 2],
  ];
  it.each(cases)('x %j, w1 [%i, %i], w2 [%i, %i]', (xShape, a, c, b, d) => {
    gradcheck({
      inputs: [{ shape: xShape }, { shape: [a, c] }, { shape: [b, d] }],
      fn: (x, w1, w2) => kronLinear(x, w1, w2, 0.7),
    });
  });
  it('through low-rank halves (w1 = w1_a w1_b, w2 = w2_a w2_b), x frozen', () => {
    gradcheck({
      inputs: [{ shape: [3, 12], grad: false }, { shape: [3, 2] }, { shape: [2, 4] }, { shape: [5, 2] }, { shape: [2, 3] }],
      fn: (x, w1a, w1b, w2a, w2b) => kronLinear(x, matmul(w1a, w1b), matmul(w2a, w2b), 2),
    });
  });
});

/** Runs fn on fresh leaves made from the host values, backpropagates sum(out * R), returns out and every .grad. */
function run(values: Float32Array[], shapes: number[][], fn: (...xs: Tensor[]) => Tensor): Float32Array[] {
  return tidy(() => {
    const xs = values.map((v, i) => fromArray(v, shapes[i]).requiresGrad_());
    const out = fn(...xs);
    const proj = fromArray(hostRandom(out.size, 99), out.shape);
    sumAll(mul(out, proj)).backward();
    const res = [out.toFloat32Array(), ...xs.map((x) => x.grad!.toFloat32Array())];
    xs.forEach((x) => x.grad!.dispose());
    return res;
  });
}

/** Every array of `fused` within 1e-5 of `reference`'s; a failure names which one (the output, dx, a factor). */
function expectSame(fused: Float32Array[], reference: Float32Array[], names: string[]): void {
  expect(fused.length).toBe(reference.length);
  fused.forEach((f, i) => {
    try {
      expect(f).toAllClose(reference[i], { atol: 1e-5, rtol: 1e-5 });
    } catch (e) {
      throw new Error(`${names[i] ?? `array ${i}`}: ${(e as Error).message}`);
    }
  });
}

const random = (shape: number[], seed: number, amp = 0.5) => Float32Array.from(hostRandom(shape.reduce((p, q) => p * q, 1), seed), (v) => v * amp);

describe.each(backendsUnderTest())('fused == the autograd path on %s (output and every gradient to 1e-5)', (backendName) => {
  // T >= 16 r (the last two) takes the dense path's rebuild of W1 and W2 in the backward.
  it.each([[1, 6, 10, 3], [3, 9, 4, 2], [17, 12, 20, 4], [64, 48, 40, 8], [70, 6, 5, 2], [256, 40, 48, 8]])('hadaLinear, both paths: T %i, in %i, out %i, r %i', (T, inF, out, r) => {
    withBackend(backendName, () => {
      const shapes = [[T, inF], [out, r], [r, inF], [out, r], [r, inF]];
      const values = shapes.map((sh, i) => random(sh, 10 + i));
      const reference = run(values, shapes, (x, a1, b1, a2, b2) => refHada(x, a1, b1, a2, b2, 0.75));
      for (const path of PATHS) {
        const fused = run(values, shapes, (x, a1, b1, a2, b2) => hadaLinear(x, a1, b1, a2, b2, 0.75, path));
        expectSame(fused, reference, ['y', 'dx', 'da1', 'db1', 'da2', 'db2'].map((n) => `${path} ${n}`));
      }
    });
  });

  it.each([[1, 2, 3, 5, 2], [3, 1, 4, 3, 1], [17, 3, 2, 2, 3], [64, 4, 8, 6, 5]])('kronLinear: T %i, w1 [%i, %i], w2 [%i, %i]', (T, a, c, b, d) => {
    withBackend(backendName, () => {
      const shapes = [[T, c * d], [a, c], [b, d]];
      const values = shapes.map((sh, i) => random(sh, 20 + i));
      const reference = run(values, shapes, (x, w1, w2) => refKron(x, w1, w2, 1.25));
      const fused = run(values, shapes, (x, w1, w2) => kronLinear(x, w1, w2, 1.25));
      expectSame(fused, reference, ['y', 'dx', 'dw1', 'dw2']);
    });
  });

  it('a strided x (a transposed view) takes the same values and gradients through both ops', () => {
    withBackend(backendName, () => {
      const [T, inF, out, r] = [5, 12, 8, 2];
      const shapes = [[inF, T], [out, r], [r, inF], [out, r], [r, inF], [2, 3], [4, 4]];
      const values = shapes.map((sh, i) => random(sh, 40 + i));
      const both = (hada: typeof refHada, kronFn: typeof refKron) => (xt: Tensor, a1: Tensor, b1: Tensor, a2: Tensor, b2: Tensor, w1: Tensor, w2: Tensor) =>
        add(hada(xt.T, a1, b1, a2, b2, 0.5), kronFn(xt.T, w1, w2, 2));
      const reference = run(values, shapes, both(refHada, refKron));
      for (const path of PATHS) {
        const fused = run(values, shapes, both((x, a1, b1, a2, b2, s) => hadaLinear(x, a1, b1, a2, b2, s, path), kronLinear));
        expectSame(fused, reference, ['y', 'dxT', 'da1', 'db1', 'da2', 'db2', 'dw1', 'dw2'].map((n) => `${path} ${n}`));
      }
    });
  });

  /**
   * One layer's output, dx and every factor gradient, with the fused op or the generic path; `seed` is set
   * right before the forward, so both ways draw the same module_dropout and rank_dropout mask.
   */
  function layerRun(make: () => LoHaLinear | LoKrLinear, fused: boolean, xShape: number[], train: boolean, seed = 7): Float32Array[] {
    manualSeed(5);
    const layer = make();
    layer.setActiveAdapters(['default']);
    layer.fusedDelta = fused;
    layer.train(train);
    const params = layer.namedParameters().filter(([n]) => !n.startsWith('base_layer'));
    expect(params.length).toBeGreaterThan(0);
    const res = run([random(xShape, 30)], [xShape], (x) => {
      manualSeed(seed);
      return layer.forward(x);
    });
    // module_dropout may skip the adapter for the call: then neither path gives the factors a gradient.
    const grads = params.map(([, p]) => (p.grad ? p.grad.toFloat32Array() : new Float32Array(0)));
    layer.dispose();
    return [...res, ...grads];
  }

  const spec = (r: number, extra: Partial<LycorisSpec> = {}): LycorisSpec =>
    ({ r, alpha: 3, scaling: 3 / r, rankDropout: 0, moduleDropout: 0, rankDropoutScale: true, ...extra });

  const lohaLayer = (extra: Partial<LycorisSpec>) => () => {
    const l = new LoHaLinear(new Linear(12, 9));
    l.addAdapter('default', spec(3, extra), false);
    return l;
  };
  const lohaNames = ['y', 'dx', 'hada_w1_a', 'hada_w1_b', 'hada_w2_a', 'hada_w2_b'];

  it('LoHaLinear (training with rank_dropout 0.3, and eval): fusedDelta true == false, every factor trained', () => {
    withBackend(backendName, () => {
      for (const [train, extra] of [[true, { rankDropout: 0.3 }], [false, {}]] as const) {
        const fused = layerRun(lohaLayer(extra), true, [2, 5, 12], train);
        expect(fused.every((a) => a.length > 0)).toBe(true);
        expectSame(fused, layerRun(lohaLayer(extra), false, [2, 5, 12], train), lohaNames.map((n) => `train ${train}: ${n}`));
      }
    });
  });

  it('LoHaLinear with module_dropout 0.5: the same calls skip the adapter both ways, the others agree', () => {
    withBackend(backendName, () => {
      let ran = 0;
      for (let seed = 1; seed <= 6; seed++) {
        const fused = layerRun(lohaLayer({ moduleDropout: 0.5 }), true, [3, 12], true, seed);
        expectSame(fused, layerRun(lohaLayer({ moduleDropout: 0.5 }), false, [3, 12], true, seed), lohaNames.map((n) => `seed ${seed}: ${n}`));
        if (fused[2].length > 0) ran++;
      }
      expect(ran).toBeGreaterThan(0); // some draws ran the adapter (and some skipped it: the mean is 3 of 6)
      expect(ran).toBeLessThan(6);
    });
  });

  it('LoKrLinear with w1 / w2 whole or split (training with rank_dropout 0.3): fusedDelta true == false', () => {
    withBackend(backendName, () => {
      for (const [r, both] of [[1, true], [8, false], [1, false], [2, true]] as const) {
        const shapes = lokrShapes(24, 40, r, both, -1);
        const make = () => {
          const l = new LoKrLinear(new Linear(40, 24));
          l.addAdapter('default', spec(r, { rankDropout: 0.3, rankDropoutScale: false }), shapes, false);
          return l;
        };
        const fused = layerRun(make, true, [3, 40], true);
        expect(fused.length).toBe(2 + (shapes.useW1 ? 1 : 2) + (shapes.useW2 ? 1 : 2)); // y, dx, w1 (or w1_a, w1_b), w2 (or w2_a, w2_b)
        expect(fused.every((a) => a.length > 0)).toBe(true);
        expectSame(fused, layerRun(make, false, [3, 40], true), [`r ${r} decompose_both ${both}`]);
      }
    });
  });
});

describe('path choice and timing', () => {
  it('hadaPath takes the rank-r^2 product while r^2 is small against the width, the dense one past it', () => {
    expect(hadaPath(2048, 768, 768, 8, true)).toBe('khatriRao');
    expect(hadaPath(2048, 4096, 4096, 16, true)).toBe('khatriRao');
    expect(hadaPath(2048, 64, 64, 16, true)).toBe('dense');
    const c = hadaCosts(2048, 768, 768, 8, true);
    expect(c.khatriRao).toBeLessThan(c.dense / 4);
  });

  it('prints one forward + backward of a d = 768, T = 2048 layer (r = 8) on native, fused and generic', () => withBackend('native', () => {
    // Printed, not asserted: the machine's cores are shared. (gradcheck above leaves the js backend active.)
    const T = 2048, d = 768, r = 8;
    const x = fromArray(random([T, d], 1), [T, d]).requiresGrad_();
    const dy = fromArray(random([T, d], 2), [T, d]);
    const leaf = (sh: number[], seed: number) => fromArray(random(sh, seed, 0.05), sh).requiresGrad_();
    const [a1, b1, a2, b2] = [[d, r], [r, d], [d, r], [r, d]].map((sh, i) => leaf(sh, 3 + i));
    // LoKr's factorisation of 768 is 24 x 32; w2 whole here (split, it adds two tiny matmuls).
    const [w1, w2] = [leaf([24, 24], 8), leaf([32, 32], 9)];
    const all = [x, a1, b1, a2, b2, w1, w2];
    const step = (f: () => Tensor) => () => tidy(() => {
      f().backward({ grad: dy });
      for (const t of all) {
        t.grad?.dispose();
        t.grad = null;
      }
    });
    const variants: [string, () => void][] = [
      ['loha generic', step(() => refHada(x, a1, b1, a2, b2, 1))],
      ['loha khatriRao', step(() => hadaLinear(x, a1, b1, a2, b2, 1, 'khatriRao'))],
      ['loha dense-fused', step(() => hadaLinear(x, a1, b1, a2, b2, 1, 'dense'))],
      ['lokr generic', step(() => refKron(x, w1, w2, 1))],
      ['lokr kronLinear', step(() => kronLinear(x, w1, w2, 1))],
    ];
    // Interleaved rounds, the fastest of each: the least disturbed by whatever else runs on the cores.
    const best = variants.map(() => Infinity);
    for (let round = 0; round < 6; round++) {
      variants.forEach(([, f], i) => {
        const t0 = process.hrtime.bigint();
        f();
        if (round > 0) best[i] = Math.min(best[i], Number(process.hrtime.bigint() - t0) / 1e6);
      });
    }
    all.forEach((t) => t.dispose());
    dy.dispose();
    const line = variants.map(([name], i) => `${name} ${best[i].toFixed(1)} ms`).join(', ');
    process.stdout.write(`lycoris layer fwd+bwd (native, T=${T}, d=${d}, r=${r}; best of 5): ${line}\n`);
  }));
});
