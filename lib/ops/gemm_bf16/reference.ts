/**
 * The bfloat16 GEMM as plain loops, and the js backend's kernel: operands rounded to bf16 (nearest even),
 * then each pair of k values added as vdpbf16ps adds them (the odd product, then the even one, each sum
 * rounded to float32). The native kernel sums in blocks of k, so the two agree to float32 summation error.
 */
import { bf16ToF32, f32ToBf16 } from '../../io/half';
import { dequantizeReference } from '../dequantize/reference';
import { at, opt } from '../reference_helpers';
import type { GemmBf16Kernels, GemmBf16Params } from './kernel';

const roundBf16 = (v: number): number => bf16ToF32(f32ToBf16(v));

/** op(B) as rounded float32 values, [k, n] row-major. */
function roundedB(p: GemmBf16Params): Float32Array {
  const out = new Float32Array(p.k * p.n);
  const floats = p.b ? at(p.b) : p.bQuant ? dequantizeReference({ ...p.bQuant, start: 0, end: p.n * p.k, out: null as never }) : null;
  const bits = p.bBits;
  for (let q = 0; q < p.k; q++) {
    for (let j = 0; j < p.n; j++) {
      const i = (p.transB ? j * p.ldb + q : q * p.ldb + j);
      out[q * p.n + j] = bits ? bf16ToF32(bits[2 * (p.bOffset + i)] | (bits[2 * (p.bOffset + i) + 1] << 8)) : roundBf16(floats![i]);
    }
  }
  return out;
}

export function gemmBf16Reference(p: GemmBf16Params): void {
  const { m, n, k } = p;
  const A = at(p.a), C = at(p.c), bias = opt(p.bias);
  const B = roundedB(p);
  const a = new Float32Array(k);
  for (let i = 0; i < m; i++) {
    for (let q = 0; q < k; q++) a[q] = roundBf16(A[i * p.lda + q]);
    for (let j = 0; j < n; j++) {
      let acc = 0;
      for (let q = 0; q < k; q += 2) {
        if (q + 1 < k) acc = Math.fround(acc + a[q + 1] * B[(q + 1) * n + j]);
        acc = Math.fround(acc + a[q] * B[q * n + j]);
      }
      const prior = p.beta === 0 ? 0 : p.beta * C[i * p.ldc + j];
      C[i * p.ldc + j] = p.alpha * acc + prior + (bias ? bias[j] : 0);
    }
  }
}

export const jsGemmBf16Kernels: GemmBf16Kernels = {
  gemmBf16: gemmBf16Reference,
};
