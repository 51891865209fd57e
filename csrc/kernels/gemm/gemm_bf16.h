// GEMM with bfloat16 compute, for frozen weights and autocast-style training steps:
//   C[m, n] = alpha * sum_k bf16(A)[m, k] bf16(op(B))[k, n] + beta * C[m, n] + bias[n]
// A is float32 [m, k] (lda >= k), rounded to bfloat16 (nearest even) as it is packed. B is bfloat16 bits
// (b_bits, used as they are), float32 (b, rounded as it is packed) or, with trans_b and ldb == k, a packed
// low-precision weight W [n, k] (b_quant: int8, nf4, ...), dequantized row by row as its panels are packed,
// so no float32 copy of it is made; op(B) = B [k, n] (ldb >= n), or B^T with B stored [n, k] (ldb >= k)
// when trans_b: a weight W [n, k] in y = x W^T.
// Products are summed in float32. On a CPU with AVX512_BF16 this is vdpbf16ps (two products per lane
// and instruction, so about twice the float32 GEMM's rate); elsewhere the rounded operands go through the
// float32 GEMM a chunk of columns at a time (same rounding of the inputs, no full float32 copy of B).
// beta == 0 means C is write-only. bias may be null.
#pragma once

#include <cstdint>

#include "../quant/dequantize.h"

namespace peftjs {

struct GemmBf16Args {
  bool trans_b = false;
  int64_t m = 0, n = 0, k = 0;
  float alpha = 1.0f;
  const float* a = nullptr;
  int64_t lda = 0;
  const uint16_t* b_bits = nullptr;  // exactly one of b_bits, b and b_quant; b_bits may be unaligned
  const float* b = nullptr;
  const QuantizedWeight* b_quant = nullptr;
  int64_t ldb = 0;
  float beta = 0.0f;
  float* c = nullptr;
  int64_t ldc = 0;
  const float* bias = nullptr;
};

void gemm_bf16(const GemmBf16Args& args);

// Whether gemm_bf16 runs on vdpbf16ps: the CPU has AVX512_BF16 and the active path is AVX-512.
bool gemm_bf16_native();

// float32 -> bfloat16 bits, rounding to nearest even (NaN stays a quiet NaN), as torch rounds.
inline uint16_t f32_to_bf16_bits(float f) {
  uint32_t u;
  __builtin_memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

// Value i of a bf16 array that may sit at an odd address (a Uint8Array's bytes).
inline uint16_t bf16_bits_at(const uint16_t* bits, int64_t i) {
  uint16_t h;
  __builtin_memcpy(&h, reinterpret_cast<const char*>(bits) + 2 * i, 2);
  return h;
}

inline float bf16_bits_to_f32(uint16_t h) {
  const uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  __builtin_memcpy(&f, &u, 4);
  return f;
}

// The AVX512_BF16 build (gemm_bf16_avx512.cc); called only when gemm_bf16_native().
void gemm_bf16_avx512(const GemmBf16Args& args);

}  // namespace peftjs
