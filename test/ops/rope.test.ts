/**
 * RoPE scaling in the rope kernel and op: a caller's inverse frequencies (invFreq) and cos/sin multiplier
 * (attentionFactor). Native against js on every CPU path (and CUDA where present) with scaling, the
 * unscaled path bit-identical whether invFreq is absent, null or theta's own values on js, the inverse as
 * the transpose (float64 finite differences of the reference and of the autograd op), and the inverse
 * frequencies of every rope_type against the PyTorch transcription of HF's modeling_rope_utils.py
 * (test/fixtures/model/make_rope_phi3_golden.py). Bad input: test/helpers/bad_input/model.ts.
 */
import * as path from 'path';
import { backend, type Backend, fromArray, rope, SafetensorsFile, setBackend } from '../../lib';
import * as ref from '../../lib/ops/rope/reference';
import { checkRopeScaling, computeRopeParameters, rotaryParams, type RotaryConfig } from '../../lib/ops/rope/scaling';
import { backendsWithKernels, cpuPaths, hostRandom, withCpuPath } from '../helpers/backends';
import { bufOf, readBuf } from '../helpers/bufs';
import { expectGradClose, gradcheck, numericGrad } from '../helpers/gradcheck';

const rand = (n: number, seed: number, scale = 1) => Float32Array.from(hostRandom(n, seed), (v) => v * scale);
const f64 = (n: number, seed: number) => Float64Array.from(hostRandom(n, seed));
const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};
/** A scaled set of inverse frequencies of rotaryDim / 2 values (llama3-like: some divided, some not). */
const scaledFreqs = (rotaryDim: number) => Float32Array.from(ref.ropeInvFreq(rotaryDim, 10000), (v, i) => (i % 3 === 0 ? v / 8 : v * 0.9));

interface Case { rows: number; heads: number; headDim: number; rotaryDim: number; rowStride: number }
const CASES: Case[] = [
  { rows: 1, heads: 1, headDim: 2, rotaryDim: 2, rowStride: 2 },
  { rows: 17, heads: 3, headDim: 16, rotaryDim: 8, rowStride: 3 * 16 * 3 },
  { rows: 300, heads: 2, headDim: 64, rotaryDim: 64, rowStride: 128 },
  { rows: 5, heads: 4, headDim: 10, rotaryDim: 6, rowStride: 40 },
];
const spanOf = (c: Case) => (c.rows - 1) * c.rowStride + c.heads * c.headDim;

function runKernel(be: Backend, c: Case, x: Float32Array, extra: Record<string, unknown>): Float32Array {
  const positions = Int32Array.from({ length: c.rows }, (_, i) => (i * 37) % 5000);
  const xb = bufOf(be, x, 3);
  be.kernels.get('rope', 'test')({ ...c, x: xb, positions, theta: 10000, interleaved: false, inverse: false, ...extra });
  return readBuf(be, xb, spanOf(c));
}

describe('rope with scaling: native vs js', () => {
  const js = backend('js');
  const paths = cpuPaths();
  (paths.length ? describe.each(paths) : describe.skip.each(['none']))('CPU path %s', (cpuPath) => {
    it.each(CASES)('rows=$rows heads=$heads headDim=$headDim rotaryDim=$rotaryDim: invFreq, attentionFactor, both conventions, inverse', (c) => {
      const x = rand(spanOf(c), 20);
      for (const interleaved of [false, true]) for (const inverse of [false, true]) for (const attentionFactor of [1, 1.2247449]) {
        const extra = { interleaved, inverse, invFreq: scaledFreqs(c.rotaryDim), attentionFactor };
        const expected = runKernel(js, c, x, extra);
        const actual = withCpuPath(cpuPath, () => runKernel(backend('native'), c, x, extra));
        expect(actual).toAllClose(expected, { atol: 2e-6, rtol: 0 });
      }
    });

    it('invFreq null, absent or attentionFactor 1 leaves the unscaled results bit-identical', () => {
      for (const c of CASES) {
        const x = rand(spanOf(c), 21);
        withCpuPath(cpuPath, () => {
          const be = backend('native');
          const plain = runKernel(be, c, x, {});
          expect(runKernel(be, c, x, { invFreq: null, attentionFactor: 1 })).toEqual(plain);
        });
      }
    });
  });

  it.each(backendsWithKernels('rope'))('%s: invFreq equal to theta\'s frequencies gives the theta path\'s results', (name) => {
    for (const c of CASES) {
      const x = rand(spanOf(c), 22);
      const be = backend(name);
      const plain = runKernel(be, c, x, {});
      const given = runKernel(be, c, x, { invFreq: Float32Array.from(ref.ropeInvFreq(c.rotaryDim, 10000)) });
      if (name === 'js') expect(given).toEqual(plain);
      else expect(given).toAllClose(plain, { atol: 2e-6, rtol: 0 });  // the addon's powf may differ from Math.pow by an ulp
      expect(runKernel(be, c, x, { invFreq: null, attentionFactor: 1 })).toEqual(plain);
      const scaled = runKernel(be, c, x, { attentionFactor: 2 });  // a power of two scales exactly
      const rotated = new Set<number>();
      for (let r = 0; r < c.rows; r++) for (let h = 0; h < c.heads; h++) for (let i = 0; i < c.rotaryDim; i++) rotated.add(r * c.rowStride + h * c.headDim + i);
      for (let i = 0; i < plain.length; i++) if (rotated.has(i)) expect([i, scaled[i]]).toEqual([i, 2 * plain[i]]);
    }
  });

  const cuda = backendsWithKernels('rope').filter((b) => b === 'cuda');
  (cuda.length ? it.each(cuda) : it.skip.each(['cuda' as const]))('%s matches js with scaling, rotaryDim past the argument-array limit too', (name) => {
    for (const c of [...CASES, { rows: 3, heads: 1, headDim: 1200, rotaryDim: 1100, rowStride: 1200 }]) {
      const x = rand(spanOf(c), 23);
      for (const inverse of [false, true]) {
        const extra = { inverse, invFreq: scaledFreqs(c.rotaryDim), attentionFactor: 1.3 };
        expect(runKernel(backend(name), c, x, extra)).toAllClose(runKernel(js, c, x, extra), { atol: 2e-6, rtol: 0 });
      }
    }
  });
});

describe('rope reference with scaling: the inverse is the transpose (the gradient)', () => {
  it.each([[false, 8, 1], [true, 8, 1.3], [false, 4, 0.7], [true, 6, 1.2247449]])('interleaved=%s rotaryDim=%i attentionFactor=%f', (interleaved, rotaryDim, attentionFactor) => {
    const rows = 3, heads = 2, headDim = 8, rowStride = 20, span = (rows - 1) * rowStride + heads * headDim;
    const x = f64(span, 18), R = f64(span, 19), positions = Int32Array.of(0, 5, 1234);
    const p = { rows, heads, headDim, rotaryDim, rowStride, positions, theta: 10000, interleaved, invFreq: scaledFreqs(rotaryDim), attentionFactor };
    const loss = () => { const y = Float64Array.from(x); ref.rope({ ...p, x: y, inverse: false }); return dot(y, R); };
    const grad = Float64Array.from(R);
    ref.rope({ ...p, x: grad, inverse: true });
    expectGradClose(grad, numericGrad(x, loss), 'dx');
  });

  it('the autograd op with invFreq, attentionFactor and a partial rotary width', () => {
    gradcheck({
      inputs: [{ shape: [2, 3, 16] }],
      fn: (x) => rope(x, { heads: 2, positions: Int32Array.from([0, 1, 2, 5, 6, 40]), rotaryDim: 4, invFreq: Float32Array.of(0.9, 0.01), attentionFactor: 1.25 }),
    });
  });
});

describe('the rope op with scaling on every backend', () => {
  it.each(backendsWithKernels('rope'))('%s: forward and backward against js', (name) => {
    const opts = { heads: 2, positions: Int32Array.from([0, 1, 2, 3, 4, 5]), rotaryDim: 4, invFreq: Float32Array.of(0.5, 0.02), attentionFactor: 1.5 };
    const x0 = rand(2 * 3 * 16, 30), g0 = rand(2 * 3 * 16, 31);
    const run = (b: string) => {
      setBackend(b as Parameters<typeof setBackend>[0]);
      const x = fromArray(x0, [2, 3, 16]);
      x.requiresGrad = true;
      const y = rope(x, opts);
      y.backward({ grad: fromArray(g0, [2, 3, 16]) });
      return [y.toFloat32Array(), x.grad!.toFloat32Array()];
    };
    const [ey, eg] = run('js');
    const [ay, ag] = run(name);
    setBackend('js');
    expect(ay).toAllClose(ey, { atol: 2e-6, rtol: 0 });
    expect(ag).toAllClose(eg, { atol: 2e-6, rtol: 0 });
  });
});

describe('inverse frequencies of every rope_type against the PyTorch transcription of HF', () => {
  const file = path.join(__dirname, '..', 'fixtures', 'model', 'rope_scaling', 'rope_params.safetensors');
  const base = { headDim: 16, ropeTheta: 10000, maxPositionEmbeddings: 128 };
  const phi = { long_factor: [1.5, 2.5, 4.0, 7.0], short_factor: [1.0, 1.1, 1.3, 1.7], type: 'longrope' };
  const cases: [string, RotaryConfig][] = [
    ['default', { ...base }],
    ['linear', { ...base, ropeScaling: { rope_type: 'linear', factor: 2 } }],
    ['dynamic_short', { ...base, ropeScaling: { rope_type: 'dynamic', factor: 2 } }],
    ['dynamic_long', { ...base, ropeScaling: { rope_type: 'dynamic', factor: 2 } }],
    ['llama3', { ...base, ropeScaling: { factor: 8, high_freq_factor: 4, low_freq_factor: 1, original_max_position_embeddings: 32, rope_type: 'llama3' } }],
    ['longrope_short', { ...base, partialRotaryFactor: 0.5, originalMaxPositionEmbeddings: 32, ropeScaling: phi }],
    ['longrope_long', { ...base, partialRotaryFactor: 0.5, originalMaxPositionEmbeddings: 32, ropeScaling: phi }],
    ['longrope_factor', { ...base, partialRotaryFactor: 0.5, ropeScaling: { ...phi, factor: 4 } }],
    ['yarn', { ...base, ropeScaling: { rope_type: 'yarn', factor: 4, original_max_position_embeddings: 32 } }],
    ['yarn_mscale', { ...base, ropeScaling: { rope_type: 'yarn', factor: 4, mscale: 0.707, mscale_all_dim: 1, beta_fast: 16, truncate: false } }],
  ];
  let golden: SafetensorsFile;
  beforeAll(() => (golden = SafetensorsFile.open(file)));
  afterAll(() => golden.close());

  it.each(cases)('%s', (name, config) => {
    checkRopeScaling('Test', config);
    const seqLen = Number((golden.loadRaw(`seq_len.${name}`).data as BigInt64Array)[0]);
    const p = computeRopeParameters(config, seqLen);
    const expected = golden.load(`inv_freq.${name}`);
    const want = expected.toFloat32Array();
    expected.dispose();
    const got = p.invFreq ?? Float32Array.from(ref.ropeInvFreq(p.rotaryDim, config.ropeTheta));
    expect(got.length).toBe(want.length);
    // float32 steps as torch takes them: equal to within an ulp or two (libm's pow and Math.pow may differ by one).
    expect(got).toAllClose(want, { rtol: 5e-7, atol: 0 });
    const af = golden.load(`attention_factor.${name}`);
    expect(Math.fround(p.attentionFactor)).toBeCloseTo(af.toFloat32Array()[0], 6);
    af.dispose();
    // rotaryParams: the same values, computed once and reused for the same branch.
    const positions = Int32Array.from({ length: seqLen }, (_, i) => i);
    const a = rotaryParams(config, positions);
    expect(rotaryParams(config, positions)).toBe(a);
    expect(a.invFreq).toEqual(p.invFreq);
  });

  it('the default RoPE (no rope_scaling, or rope_type default) gives no invFreq: the unscaled kernel path', () => {
    expect(computeRopeParameters({ ...base }, 10)).toEqual({ rotaryDim: 16, invFreq: null, attentionFactor: 1 });
    expect(computeRopeParameters({ ...base, ropeScaling: { rope_type: 'default' } }, 10)).toEqual({ rotaryDim: 16, invFreq: null, attentionFactor: 1 });
    expect(computeRopeParameters({ ...base, ropeScaling: { rope_type: 'dynamic', factor: 2 } }, 128).invFreq).toBeNull();
  });
});

describe('rope_scaling validation names the class and the key', () => {
  const base = { headDim: 16, ropeTheta: 10000, maxPositionEmbeddings: 128 };
  it.each([
    [{ factor: 2 }, /X: rope_scaling \{"factor":2\} has no 'rope_type' \(or 'type'\)/],
    [{ rope_type: 'su', factor: 2 }, /X: rope_scaling's rope_type "su" is not supported \(supported: default, linear, dynamic, llama3, longrope, yarn\)/],
    [{ rope_type: 'linear' }, /X: rope_scaling.factor is required for rope_type 'linear'/],
    [{ type: 'linear', factor: '2' }, /X: rope_scaling.factor must be a number > 0, got "2"/],
    [{ type: 'dynamic', factor: -1 }, /X: rope_scaling.factor must be a number > 0, got -1/],
    [{ rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4 }, /X: rope_scaling.original_max_position_embeddings is required for rope_type 'llama3'/],
    [{ rope_type: 'llama3', factor: 8, low_freq_factor: 4, high_freq_factor: 4, original_max_position_embeddings: 32 }, /X: rope_scaling.high_freq_factor 4 must be greater than low_freq_factor 4/],
    [{ rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 31.5 }, /original_max_position_embeddings must be a positive integer, got 31.5/],
    [{ rope_type: 'longrope', short_factor: [1, 1, 1], long_factor: Array(8).fill(2) }, /X: rope_scaling.short_factor must have rotary width \/ 2 = 8 values, got 3/],
    [{ rope_type: 'longrope', short_factor: Array(8).fill(1), long_factor: 'x' }, /X: rope_scaling.long_factor must be a list of numbers > 0, got "x"/],
    [{ rope_type: 'yarn', factor: 4, truncate: 1 }, /X: rope_scaling.truncate must be true or false, got 1/],
    [[1, 2], /X: 'rope_scaling' must be an object or null, got \[1,2\]/],
  ])('%j', (rs, message) => {
    expect(() => checkRopeScaling('X', { ...base, ropeScaling: rs as Record<string, unknown> })).toThrow(message);
  });

  it('partial_rotary_factor', () => {
    expect(() => checkRopeScaling('X', { ...base, partialRotaryFactor: 0 })).toThrow(/X: partial_rotary_factor must be a number in \(0, 1\], got 0/);
    expect(() => checkRopeScaling('X', { ...base, partialRotaryFactor: 0.3 })).not.toThrow();  // int(4.8) = 4
    expect(() => checkRopeScaling('X', { ...base, partialRotaryFactor: 0.1 })).toThrow(/X: the rotary width int\(head_dim 16 \* partial_rotary_factor 0.1\) = 1 must be even and at least 2/);
  });
});
