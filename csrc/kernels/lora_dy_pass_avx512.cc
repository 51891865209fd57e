#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "lora_dy_pass.h"
#include "simd_target.h"

// AVX-512's 32 vector registers hold eight rows' g accumulators and u rows at once (AVX2's 16 hold four).
PEFTJS_TARGET_BEGIN("avx512f,avx512vl,avx512dq,avx512bw,avx2,fma")

namespace peftjs {
namespace avx512_impl {
#define DY_PASS_EIGHT_ROWS
#include "lora_dy_pass.inc"
#undef DY_PASS_EIGHT_ROWS

// Ranks 8, 16, 32 and 64 in vector registers, written out: the generic block above, given float arrays,
// kept its g accumulators on the stack (a load and a store around every FMA) and chained the eight
// rows' dB terms through one register, ~34 cycles a column at r = 16 where 16 FMAs need 16.
// V: a vector of L floats; a row of rank R = L * NV; ROWS rows of dy per pass over B and dB.
struct Zmm {
  using T = __m512;
  static constexpr int L = 16;
  static T zero() { return _mm512_setzero_ps(); }
  static T load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, T v) { _mm512_storeu_ps(p, v); }
  static T set1(float v) { return _mm512_set1_ps(v); }
  static T fma(T a, T b, T c) { return _mm512_fmadd_ps(a, b, c); }
  static T mul(T a, T b) { return _mm512_mul_ps(a, b); }
  static T add(T a, T b) { return _mm512_add_ps(a, b); }
};

struct Ymm {
  using T = __m256;
  static constexpr int L = 8;
  static T zero() { return _mm256_setzero_ps(); }
  static T load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, T v) { _mm256_storeu_ps(p, v); }
  static T set1(float v) { return _mm256_set1_ps(v); }
  static T fma(T a, T b, T c) { return _mm256_fmadd_ps(a, b, c); }
  static T mul(T a, T b) { return _mm256_mul_ps(a, b); }
  static T add(T a, T b) { return _mm256_add_ps(a, b); }
};

// kG false: only the dB half (dB += dy^T u), which is also dA^T += x^T g (see lora_outer_pass_avx512).
template <class V, int NV, int ROWS, bool kG>
void dy_block_regs(const float* dy, const float* b, const float* u, int64_t t, int64_t n, float* g, float* db_part,
                   float* dbias_part) {
  using T = typename V::T;
  constexpr int R = V::L * NV;
  T gacc[ROWS][NV], urow[ROWS][NV];
#pragma GCC unroll 8
  for (int q = 0; q < ROWS; ++q)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      gacc[q][v] = V::zero();
      urow[q][v] = V::load(u + (t + q) * R + v * V::L);
    }
  const float* d0 = dy + t * n;
  for (int64_t c = 0; c < n; ++c) {
    T a[ROWS];
    float asum = 0.0f;
#pragma GCC unroll 8
    for (int q = 0; q < ROWS; ++q) {
      const float aq = d0[q * n + c];
      a[q] = V::set1(aq);
      asum += aq;
    }
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      const T bv = kG ? V::load(b + c * R + v * V::L) : V::zero();
      // dB[c] += sum_q a_q u_q in two independent chains, so the rows' terms do not wait on each other.
      T even = V::fma(a[0], urow[0][v], V::load(db_part + c * R + v * V::L));
      T odd = V::zero();
      if constexpr (ROWS > 1) odd = V::mul(a[1], urow[1][v]);
#pragma GCC unroll 8
      for (int q = 0; q < ROWS; ++q) {
        if constexpr (kG) gacc[q][v] = V::fma(a[q], bv, gacc[q][v]);
        if (q >= 2) {
          if (q % 2 == 0) even = V::fma(a[q], urow[q][v], even);
          else odd = V::fma(a[q], urow[q][v], odd);
        }
      }
      V::store(db_part + c * R + v * V::L, V::add(even, odd));
    }
    if (dbias_part) dbias_part[c] += asum;
  }
  if constexpr (kG) {
#pragma GCC unroll 8
    for (int q = 0; q < ROWS; ++q)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) V::store(g + (t + q) * R + v * V::L, gacc[q][v]);
  }
}

template <class V, int NV, int ROWS, bool kG>
void dy_rows_regs(const float* dy, const float* b, const float* u, int64_t t0, int64_t t1, int64_t n, int64_t,
                  float* g, float* db_part, float* dbias_part) {
  int64_t t = t0;
  for (; t + ROWS <= t1; t += ROWS) dy_block_regs<V, NV, ROWS, kG>(dy, b, u, t, n, g, db_part, dbias_part);
  for (; t < t1; ++t) dy_block_regs<V, NV, 1, kG>(dy, b, u, t, n, g, db_part, dbias_part);
}

}  // namespace avx512_impl

DyPassRowsFn dy_pass_avx512(int64_t r) {
  using namespace avx512_impl;
  // Registers: ROWS * NV accumulators + ROWS * NV u vectors + ROWS broadcasts stay within 32.
  switch (r) {
    case 8: return dy_rows_regs<Ymm, 1, 8, true>;
    case 16: return dy_rows_regs<Zmm, 1, 8, true>;
    case 32: return dy_rows_regs<Zmm, 2, 4, true>;
    case 64: return dy_rows_regs<Zmm, 4, 2, true>;
    default: return dy_pass_for_rank(r);
  }
}

DyPassRowsFn outer_pass_avx512(int64_t r) {
  using namespace avx512_impl;
  switch (r) {
    case 8: return dy_rows_regs<Ymm, 1, 8, false>;
    case 16: return dy_rows_regs<Zmm, 1, 8, false>;
    case 32: return dy_rows_regs<Zmm, 2, 4, false>;
    case 64: return dy_rows_regs<Zmm, 4, 2, false>;
    default: return nullptr;
  }
}

}  // namespace peftjs

PEFTJS_TARGET_END
