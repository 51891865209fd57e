/**
 * The bfloat16 GEMM (computeDtype 'bfloat16'): the native kernel against the js reference on odd shapes,
 * both layouts of B, B as bf16 bits and as float32, on every CPU path (vdpbf16ps where the CPU has
 * AVX512_BF16, the rounded float32 GEMM elsewhere); the rounding of both operands; and quantizedLinear
 * with bf16 compute, forward and backward, against the float32 layer on bf16-rounded operands.
 */
import { backend, fromArray, linear, matmul, mul, setBackend, sumAll, type Tensor } from '../../lib';
import { loadAddon } from '../../lib/backend/native/addon';
import { f32ArrayToBf16 } from '../../lib/io/half';
import type { GemmBf16Params } from '../../lib/ops/gemm_bf16/kernel';
import { gemmBf16Reference } from '../../lib/ops/gemm_bf16/reference';
import { quantizedLinear } from '../../lib/quant/quantized_linear';
import { QuantizedTensor } from '../../lib/quant/quantized_tensor';
import { backendsWithKernels, cpuPaths, hostRandom, withCpuPath } from '../helpers/backends';
import { bufOf, readBuf } from '../helpers/bufs';

// [m, n, k]: k = 4101 spans three of the native kernel's k blocks (at most 1024 pairs each), n = 1000 many column panels.
const SHAPES: [number, number, number][] = [[1, 1, 1], [3, 17, 5], [17, 3, 1000], [13, 33, 4], [2, 70, 31], [40, 65, 129], [25, 1000, 17], [5, 40, 4101]];

const roundBf16 = (v: Float32Array) => {
  const bits = f32ArrayToBf16(v);
  return new Float32Array(new Uint32Array(Array.from(bits, (h) => h << 16)).buffer);
};

interface Case {
  m: number;
  n: number;
  k: number;
  transB: boolean;
  bits: boolean;
  beta: number;
  bias: boolean;
}

/** Runs one case on a backend: returns C. */
function runCase(name: 'js' | 'native' | 'cuda', c: Case, seed: number): Float32Array {
  const be = backend(name);
  const { m, n, k } = c;
  const ldb = c.transB ? k + 2 : n + 1;  // padded rows: the leading dimension is honoured
  const bRows = c.transB ? n : k;
  const bValues = hostRandom(bRows * ldb, seed + 1);
  const cOut = bufOf(be, hostRandom(m * n, seed + 2));
  const p: GemmBf16Params = {
    transB: c.transB, m, n, k, alpha: 0.5, a: bufOf(be, hostRandom(m * k, seed)), lda: k,
    bBits: c.bits ? new Uint8Array(new Uint16Array([7, ...f32ArrayToBf16(bValues)]).buffer) : null, bOffset: c.bits ? 1 : 0,
    b: c.bits ? null : bufOf(be, bValues), ldb, beta: c.beta, c: cOut, ldc: n, bias: c.bias ? bufOf(be, hostRandom(n, seed + 3)) : null,
  };
  be.kernels.get('gemmBf16', 'test')(p);
  return readBuf(be, cOut, m * n);
}

describe.each(backendsWithKernels('gemmBf16'))('gemmBf16 on %s', (name) => {
  beforeAll(() => setBackend(name));

  const cases: Case[] = [];
  for (const [m, n, k] of SHAPES) {
    for (const transB of [true, false]) cases.push({ m, n, k, transB, bits: (m + n) % 2 === 0, beta: k % 2 === 0 ? 0 : 0.75, bias: n % 3 !== 0 });
  }

  it('matches the js reference on odd shapes, B as bits and as floats, both layouts, on every CPU path', () => {
    const check = (path: string) => {
      cases.forEach((c, i) => {
        for (const bits of [true, false]) {
          const cc = { ...c, bits };
          const got = runCase(name, cc, 10 * i + 1);
          const want = runCase('js', cc, 10 * i + 1);
          // Same rounded products, summed in another order: float32 summation error over k terms of size < 1.
          expect([path, JSON.stringify(cc), got]).toEqual([path, JSON.stringify(cc), expect.anything()]);
          expect(got).toAllClose(want, { rtol: 1e-5, atol: 2e-6 * Math.sqrt(c.k) + 1e-6 });
        }
      });
    };
    if (name === 'native') for (const path of cpuPaths()) withCpuPath(path, () => check(path));
    else check(name);
  });

  it.each([['nf4', {}], ['nf4', { groupSize: 32, doubleQuant: true }], ['int8', {}], ['float16', {}]] as const)(
    'B as a packed %s %j weight (dequantized inside the packing) matches the reference, on every CPU path', (format, opts) => {
      const check = (path: string) => {
        for (const [m, n, k] of SHAPES) {
          const q = QuantizedTensor.quantize(hostRandom(n * k, n + k), [n, k], format, opts);
          const a = hostRandom(m * k, m), c0 = hostRandom(m * n, 3);
          const run = (b: 'js' | 'native' | 'cuda') => {
            const bb = backend(b), c = bufOf(bb, c0);
            bb.kernels.get('gemmBf16', 'test')({ transB: true, m, n, k, alpha: 1, a: bufOf(bb, a), lda: k, bBits: null, bOffset: 0, b: null,
              bQuant: q.packedWeight, ldb: k, beta: 0.5, c, ldc: n, bias: null });
            return readBuf(bb, c, m * n);
          };
          const got = run(name), want = run('js');
          expect([path, m, n, k, got.length]).toEqual([path, m, n, k, m * n]);
          expect(got).toAllClose(want, { rtol: 1e-5, atol: 2e-6 * Math.sqrt(k) + 1e-6 });
        }
      };
      if (name === 'native') for (const path of cpuPaths()) withCpuPath(path, () => check(path));
      else check(name);
    });

  it('multiplies bf16-rounded operands: exact where the rounded products sum exactly', () => {
    // bf16 keeps 8 significant bits: 1 + 2^-8 and 3 + 2^-7 lie halfway between two bf16 values and round to
    // the even one (1 and 3); 1.5 + 2^-9 rounds down to 1.5.
    const be = backend(name);
    const a = bufOf(be, [1 + 2 ** -8, 3 + 2 ** -7, 2, -0.5]);
    const b = bufOf(be, [1, 1, 1.5 + 2 ** -9, 4]);
    const c = bufOf(be, [0]);
    be.kernels.get('gemmBf16', 'test')({ transB: true, m: 1, n: 1, k: 4, alpha: 1, a, lda: 4, bBits: null, bOffset: 0, b, ldb: 4, beta: 0, c, ldc: 1, bias: null });
    // 1 * 1 + 3 * 1 + 2 * 1.5 - 0.5 * 4 (1.5 + 2^-9 rounds to 1.5).
    expect(readBuf(be, c, 1)[0]).toBe(1 + 3 + 3 - 2);
  });

  it('a C with NaN garbage is not read when beta is 0', () => {
    const be = backend(name);
    const c = bufOf(be, [NaN, NaN]);
    be.kernels.get('gemmBf16', 'test')({ transB: false, m: 1, n: 2, k: 1, alpha: 1, a: bufOf(be, [2]), lda: 1, bBits: null, bOffset: 0, b: bufOf(be, [3, 4]), ldb: 2,
      beta: 0, c, ldc: 2, bias: null });
    expect(Array.from(readBuf(be, c, 2))).toEqual([6, 8]);
  });

  it.each(['bfloat16', 'nf4', 'int8'] as const)('quantizedLinear on %s with bf16 compute equals linear on bf16-rounded operands, forward and backward', (format) => {
    const [T, N, K] = [7, 37, 70];
    const q = QuantizedTensor.quantize(hostRandom(N * K, 3), [N, K], format);
    const x = fromArray(hostRandom(T * K, 4), [T, K]);
    const bias = fromArray(hostRandom(N, 5));
    const gOut = hostRandom(T * N, 6);
    const run = (f: (xs: Tensor, b: Tensor) => Tensor) => {
      const xs = x.detach().requiresGrad_(), b = bias.detach().requiresGrad_();
      const y = f(xs, b);
      sumAll(mul(y, fromArray(gOut, [T, N]))).backward();
      return { y: y.toFloat32Array(), dx: xs.grad!.toFloat32Array(), db: b.grad!.toFloat32Array() };
    };
    const wq = q.dequantize().toFloat32Array();
    const got = run((xs, b) => quantizedLinear(xs, q, b, 'bfloat16'));
    // The float32 layer on rounded x and W gives the forward; the backward rounds the output gradient too.
    const yWant = linear(fromArray(roundBf16(x.toFloat32Array()), [T, K]), fromArray(roundBf16(wq), [N, K]), bias).toFloat32Array();
    const dxWant = matmul(fromArray(roundBf16(gOut), [T, N]), fromArray(roundBf16(wq), [N, K])).toFloat32Array();
    expect(got.y).toAllClose(yWant, { rtol: 1e-5, atol: 1e-5 });
    expect(got.dx).toAllClose(dxWant, { rtol: 1e-5, atol: 1e-5 });
    // bf16 compute is a real change of precision: the float32 result differs by about bf16's rounding.
    const exact = linear(x, fromArray(wq, [N, K]), bias).toFloat32Array();
    const diff = Math.max(...got.y.map((v, i) => Math.abs(v - exact[i])));
    expect(diff).toBeGreaterThan(1e-5);
    expect(diff).toBeLessThan(0.05);
  });

  it('refuses an unknown computeDtype by name', () => {
    const q = QuantizedTensor.quantize(hostRandom(12, 1), [3, 4], 'bfloat16');
    expect(() => quantizedLinear(fromArray([[1, 2, 3, 4]]), q, null, 'float16' as never)).toThrow("quantizedLinear: computeDtype must be float32 or bfloat16, got 'float16'");
  });
});

describe('the CPU feature that picks the bf16 instructions', () => {
  it('is reported by info() and follows the CPU path down', () => {
    const addon = loadAddon();
    if (!addon) {
      console.log('skipping: the native addon is not built here');
      return;
    }
    const info = addon.info();
    expect(typeof info.avx512Bf16).toBe('boolean');
    withCpuPath('avx2', () => expect(addon.info().avx512Bf16).toBe(false));
    if (!info.avx512Bf16) console.log(`this CPU (${info.cpuPathDetected}) has no AVX512_BF16: gemmBf16 ran on the float32 fallback`);
  });
});
