/** The reference dequantization: lib/quant's definitions of each format, and the js backend's kernel. */
import { bf16ToF32, f16ToF32 } from '../../io/half';
import { dequantizeInt8 } from '../../quant/int8';
import { dequantizeNf4 } from '../../quant/nf4';
import { at } from '../reference_helpers';
import type { DequantizeKernels, DequantizeParams } from './kernel';

/** Values [start, end) of the weight the params describe, in float32. */
export function dequantizeReference(p: DequantizeParams): Float32Array {
  const { start, end } = p;
  const out = new Float32Array(end - start);
  if (p.format === 'bfloat16' || p.format === 'float16') {
    const decode = p.format === 'bfloat16' ? bf16ToF32 : f16ToF32;
    for (let i = start; i < end; i++) out[i - start] = decode(p.data[2 * i] | (p.data[2 * i + 1] << 8));
    return out;
  }
  if (p.format === 'int8') {
    const q = new Int8Array(p.data.buffer, p.data.byteOffset, p.n);
    return dequantizeInt8({ format: 'int8', n: p.n, groupSize: p.group, q, absmax: p.absmax! }, start, end, out);
  }
  const absmax = p.absmax ?? {
    n: Math.ceil(p.n / p.group), blockSize: 256, codes: p.nestedCodes!, absmax: p.nestedAbsmax!, offset: p.offset,
  };
  return dequantizeNf4({ format: 'nf4', n: p.n, blockSize: p.group, codes: p.data, absmax }, start, end, out);
}

export const jsDequantizeKernels: DequantizeKernels = {
  dequantize(p) {
    at(p.out).set(dequantizeReference(p));
  },
};
