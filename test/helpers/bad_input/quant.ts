/**
 * The low-precision weight kernels in the bad-input harness: dequantize (formats, ranges, packed lengths,
 * missing scales) and gemmBf16 (B given as bits or floats, never both or neither; the bits' length).
 */
import type { KernelCase } from './case';

const nf4 = { format: 'nf4', n: 130, group: 64, start: 0, end: 130, data: new Uint8Array(65), absmax: new Float32Array(3), nestedCodes: null, nestedAbsmax: null, offset: 0 };

export const QUANT_CASES: KernelCase[] = [
  {
    kernel: 'dequantize',
    params: (b) => ({ ...nf4, out: b(130) }),
    dims: ['n', 'start', 'end', 'group'],
    bufs: ['out'],
    ranges: [
      [{ format: 'fp4' }, "format must be 'bfloat16' or 'float16' or 'int8' or 'nf4', got 'fp4'"],
      [{ start: 10, end: 5 }, 'the range [10, 5) is not inside [0, n = 130)'],
      [{ end: 131 }, 'the range [0, 131) is not inside [0, n = 130)'],
      [{ group: 0 }, 'group must be at least 1'],
      [{ data: new Uint8Array(64) }, "argument 'data' has 64 bytes, expected at least 65"],
      [{ data: new Float32Array(65) }, "argument 'data' must be a Uint8Array, got Float32Array"],
      [{ absmax: new Float32Array(2) }, "argument 'absmax' has 2 elements, expected at least 3"],
      [{ absmax: null }, 'nf4 needs absmax (or, for nf4, nestedCodes and nestedAbsmax)'],
      [{ format: 'int8', absmax: null, data: new Uint8Array(130) }, 'int8 needs absmax (or, for nf4, nestedCodes and nestedAbsmax)'],
      [{ format: 'bfloat16', data: new Uint8Array(259) }, "argument 'data' has 259 bytes, expected at least 260"],
      [{ offset: NaN }, "argument 'offset' must not be NaN"],
    ],
  },
  {
    kernel: 'gemmBf16',
    // C [2, 3] = A [2, 5] B^T with B [3, 5] as bf16 bits.
    params: (b) => ({ transB: true, m: 2, n: 3, k: 5, alpha: 1, a: b(10), lda: 5, bBits: new Uint8Array(30), bOffset: 0, b: null, ldb: 5,
      beta: 0, c: b(6), ldc: 3, bias: null }),
    dims: ['m', 'n', 'k', 'lda', 'ldb', 'ldc', 'bOffset'],
    bufs: ['a', 'c'],
    ranges: [
      [{ bBits: new Uint8Array(28) }, "argument 'bBits' has 28 bytes, expected at least 30"],
      [{ bOffset: 1 }, "argument 'bBits' has 30 bytes, expected at least 32"],
      [{ bBits: new Uint16Array(15) }, "argument 'bBits' must be a Uint8Array, got a typed array of another type"],
      [{ bBits: null }, "exactly one of 'bBits', 'b' and 'bQuant' must be given, got 0"],
      [{ b: new Float32Array(15) }, "exactly one of 'bBits', 'b' and 'bQuant' must be given, got 2"],
      [{ bBits: null, bQuant: { ...nf4, n: 15, data: new Uint8Array(8), absmax: new Float32Array(1) }, transB: false }, "argument 'bQuant' needs transB and ldb = k (the row-major weight [n, k])"],
      [{ bBits: null, bQuant: { ...nf4, n: 15, data: new Uint8Array(7), absmax: new Float32Array(1) } }, "argument 'bQuant.data' has 7 bytes, expected at least 8"],
      [{ bBits: null, bQuant: { ...nf4, n: 14, data: new Uint8Array(7), absmax: new Float32Array(1) } }, "argument 'bQuant' holds 14 values, expected at least 15"],
      [{ lda: 4 }, "leading dimension of 'a' is 4, expected at least 5 (its column count)"],
      [{ ldb: 4 }, "leading dimension of 'b' is 4, expected at least 5 (its column count)"],
      [{ transB: false, ldb: 2 }, "leading dimension of 'b' is 2, expected at least 3 (its column count)"],
    ],
  },
];
