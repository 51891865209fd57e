/**
 * Low-precision frozen weights on every backend that dequantizes: the native dequantization against the js
 * reference on odd shapes for every format, and quantizedLinear (forward, dx, dbias; several panels)
 * against the float32 linear layer on the dequantized weight.
 */
import { fromArray, linear, setBackend, sumAll, type Tensor } from '../../lib';
import { WEIGHT_FORMATS, type WeightFormat } from '../../lib/ops/dequantize/kernel';
import { quantizedLinear } from '../../lib/quant/quantized_linear';
import { QuantizedTensor } from '../../lib/quant/quantized_tensor';
import { backendsWithKernels, cpuPaths, hostRandom, oracle, withCpuPath } from '../helpers/backends';

const SHAPES: [number, number][] = [[1, 1], [3, 17], [17, 3], [5, 1000], [64, 65]];
const OPTIONS: [WeightFormat, { groupSize?: number; doubleQuant?: boolean }][] = [
  ['bfloat16', {}], ['float16', {}], ['int8', {}], ['nf4', {}], ['nf4', { groupSize: 32, doubleQuant: true }],
];

describe.each(backendsWithKernels('dequantize'))('quantized weights on %s', (name) => {
  beforeAll(() => setBackend(name));

  it.each(OPTIONS)('%s %j: every shape dequantizes as the js reference, whole and by rows, on every CPU path', (format, opts) => {
    const check = (path: string) => {
      for (const [N, K] of SHAPES) {
        const q = QuantizedTensor.quantize(hostRandom(N * K, N + K), [N, K], format, opts);
        const whole = q.dequantize();
        expect([path, N, K, whole.toFloat32Array()]).toEqual([path, N, K, oracle([], () => q.dequantize())]);
        if (N > 2) expect(q.rows(1, N - 1).toFloat32Array()).toEqual(whole.toFloat32Array().subarray(K, (N - 1) * K));
      }
    };
    if (name === 'native') for (const path of cpuPaths()) withCpuPath(path, () => check(path));
    else check(name);
  });

  it('the int8 and nf4 payload is a quarter and an eighth of float32 (plus scales)', () => {
    const w = hostRandom(256 * 256, 1);
    expect(QuantizedTensor.quantize(w, [256, 256], 'int8').byteLength).toBe(256 * 256 + 256 * 4);
    expect(QuantizedTensor.quantize(w, [256, 256], 'nf4').byteLength).toBe(256 * 128 + 1024 * 4);
    expect(QuantizedTensor.quantize(w, [256, 256], 'bfloat16').byteLength).toBe(256 * 256 * 2);
  });

  it.each(WEIGHT_FORMATS)('quantizedLinear on %s equals linear on the dequantized weight, forward and backward', (format) => {
    const [T, N, K] = [5, 37, 70];
    const q = QuantizedTensor.quantize(hostRandom(N * K, 3), [N, K], format);
    const x = fromArray(Array.from(hostRandom(T * K, 4))).reshape([1, T, K]);
    const bias = fromArray(Array.from(hostRandom(N, 5)));
    const run = (f: (xs: Tensor, b: Tensor) => Tensor) => {
      const xs = x.detach().requiresGrad_(), b = bias.detach().requiresGrad_();
      const y = f(xs, b);
      sumAll(y).backward();
      return { y: y.toFloat32Array(), dx: xs.grad!.toFloat32Array(), db: b.grad!.toFloat32Array() };
    };
    const wq = q.dequantize();
    const got = run((xs, b) => quantizedLinear(xs, q, b));
    const want = run((xs, b) => linear(xs, wq, b));
    expect(got.y).toAllClose(want.y, { rtol: 1e-5, atol: 1e-5 });
    expect(got.dx).toAllClose(want.dx, { rtol: 1e-5, atol: 1e-5 });
    expect(got.db).toAllClose(want.db, { rtol: 1e-6, atol: 1e-6 });
  });

  it('a weight larger than one panel runs panel by panel with the same result', () => {
    const [T, N, K] = [3, 1100, 4000];  // 4.4M values: two panels of at most 4M
    const q = QuantizedTensor.quantize(hostRandom(N * K, 6), [N, K], 'nf4');
    const x = fromArray(Array.from(hostRandom(T * K, 7))).reshape([T, K]);
    expect(quantizedLinear(x, q, null)).toAllClose(linear(x, q.dequantize()).toFloat32Array(), { rtol: 1e-4, atol: 1e-4 });
  });

  it('refuses an x whose width is not K', () => {
    const q = QuantizedTensor.quantize(hostRandom(12, 1), [3, 4], 'int8');
    expect(() => quantizedLinear(fromArray([[1, 2, 3]]), q, null)).toThrow('quantizedLinear: x must be [..., 4], got [1, 3]');
  });
});

describe('QuantizedTensor.fromNf4', () => {
  it("takes bitsandbytes' packed codes and absmax as they are, and checks their lengths", () => {
    const q = QuantizedTensor.quantize(hostRandom(6 * 70, 9), [6, 70], 'nf4');
    const parts = (q as unknown as { packed: { data: Uint8Array; absmax: Float32Array } }).packed;
    const again = QuantizedTensor.fromNf4(parts.data, parts.absmax, [6, 70]);
    expect(again.dequantize().toFloat32Array()).toEqual(q.dequantize().toFloat32Array());
    expect(() => QuantizedTensor.fromNf4(parts.data.subarray(1), parts.absmax, [6, 70]))
      .toThrow('QuantizedTensor.fromNf4: 209 code bytes and 7 absmax values of block 64 do not fill [6, 70] (expected 210 and 7)');
    expect(() => QuantizedTensor.fromNf4(parts.data, parts.absmax, [6, 70], 0)).toThrow('QuantizedTensor.fromNf4: blockSize must be a positive integer, got 0');
  });
});

describe('QuantizedTensor.fromBf16Bits', () => {
  it('keeps the bits it is given and checks their length', () => {
    const q = QuantizedTensor.quantize(hostRandom(3 * 5, 2), [3, 5], 'bfloat16');
    const again = QuantizedTensor.fromBf16Bits(q.bf16Bits!, [3, 5]);
    expect(again.bf16Bits).toBe(q.bf16Bits);
    expect(again.dequantize().toFloat32Array()).toEqual(q.dequantize().toFloat32Array());
    expect(() => QuantizedTensor.fromBf16Bits(new Uint8Array(29), [3, 5])).toThrow('QuantizedTensor.fromBf16Bits: 29 bytes do not hold [3, 5] (expected 30)');
  });
});
