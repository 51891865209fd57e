/**
 * GEMM with bfloat16 compute (computeDtype 'bfloat16'): C = alpha * bf16(A) bf16(op(B)) + beta * C + bias,
 * products summed in float32. A is float32 activations, rounded to nearest even as they are packed; B is a
 * frozen weight either as bfloat16 bits (a bf16 QuantizedTensor's bytes, read in place) or as float32 (a
 * dequantized panel, rounded as it is packed). op(B) = B [k, n], or B^T with B stored [n, k] (transB: the
 * weight of y = x W^T). csrc/kernels/gemm/gemm_bf16.h runs it on vdpbf16ps where the CPU has AVX512_BF16.
 */
import { type KernelChecks, typeOf } from '../../backend/checks';
import { matrixSpan } from '../../backend/primitive_checks';
import type { Buf } from '../../backend/types';
import { checkPackedWeight, type PackedWeight } from '../dequantize/kernel';

export interface GemmBf16Params {
  transB: boolean;
  m: number;
  n: number;
  k: number;
  alpha: number;
  a: Buf;
  lda: number;
  /** B as bfloat16 bits (2 bytes a value, little-endian) from value bOffset on; null when b is given. */
  bBits: Uint8Array | null;
  bOffset: number;
  /** B as float32; null when bBits is given. */
  b: Buf | null;
  /** B as a packed weight [n, k] (transB, ldb = k); absent or null otherwise. */
  bQuant?: PackedWeight | null;
  ldb: number;
  beta: number;
  c: Buf;
  ldc: number;
  bias: Buf | null;
}

export interface GemmBf16Kernels {
  gemmBf16(p: GemmBf16Params): void;
}

export const gemmBf16Checks: KernelChecks<GemmBf16Kernels> = {
  gemmBf16(p, c) {
    const transB = c.boolean('transB', p.transB);
    const m = c.dim('m', p.m), n = c.dim('n', p.n), k = c.dim('k', p.k);
    c.value('alpha', p.alpha);
    c.value('beta', p.beta);
    const lda = c.dim('lda', p.lda), ldb = c.dim('ldb', p.ldb), ldc = c.dim('ldc', p.ldc);
    c.buf('a', p.a, matrixSpan(c, 'a', m, k, lda));
    const bNeed = transB ? matrixSpan(c, 'b', n, k, ldb) : matrixSpan(c, 'b', k, n, ldb);
    const given = (v: unknown) => v !== null && v !== undefined;
    const count = [p.bBits, p.b, p.bQuant].filter(given).length;
    if (count !== 1) c.fail(`exactly one of 'bBits', 'b' and 'bQuant' must be given, got ${count}`);
    const bOffset = c.dim('bOffset', p.bOffset);
    if (given(p.bQuant)) {
      if (!transB || ldb !== k) c.fail("argument 'bQuant' needs transB and ldb = k (the row-major weight [n, k])");
      if (typeof p.bQuant !== 'object') c.failType(`argument 'bQuant' must be an object, got ${typeOf(p.bQuant)}`);
      const { n: values } = checkPackedWeight(c, p.bQuant!, 'bQuant.');
      if (values < bNeed) c.fail(`argument 'bQuant' holds ${values} values, expected at least ${bNeed}`);
    } else if (given(p.bBits)) {
      if (!(p.bBits instanceof Uint8Array)) c.failType(`argument 'bBits' must be a Uint8Array, got ${typeOf(p.bBits)}`);
      const needed = 2 * (bOffset + bNeed), length = (p.bBits as Uint8Array).length;
      if (length < needed) c.fail(`argument 'bBits' has ${length} bytes, expected at least ${needed}`);
    } else {
      c.buf('b', p.b, bNeed);
    }
    c.buf('c', p.c, matrixSpan(c, 'c', m, n, ldc));
    c.optBuf('bias', p.bias, n);
  },
};
