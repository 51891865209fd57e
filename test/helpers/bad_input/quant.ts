/** The dequantize kernel in the bad-input harness: formats, ranges, packed lengths, missing scales. */
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
];
