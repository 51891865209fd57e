// The AVX2+FMA half of the SIMD vocabulary: F32x8, the eight-float vector the register-blocked kernels
// are written over (its AVX-512 twin F32x16 is in avx512.h, with the same members), the horizontal sum
// and max, the lane mask of a partial vector, and the 8x8 register transpose. Only for files whose
// callers dispatch on cpu_features (simd/dispatch.h): everything here is compiled for avx2,fma whatever
// the build flags. Include it before a file's own PEFTJS_TARGET_BEGIN.
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "target.h"

PEFTJS_TARGET_BEGIN("avx2,fma")

namespace peftjs {
namespace simd {

// A vector type of the vocabulary, from its intrinsics' prefix (_mm256_, _mm512_): one definition for
// every width, so the types cannot drift apart.
#define PEFTJS_SIMD_F32_VEC(NAME, TYPE, LANES, P)                \
  struct NAME {                                                  \
    using T = TYPE;                                              \
    static constexpr int L = LANES;                              \
    static T zero() { return P##setzero_ps(); }                  \
    static T load(const float* p) { return P##loadu_ps(p); }     \
    static void store(float* p, T v) { P##storeu_ps(p, v); }     \
    static T set1(float v) { return P##set1_ps(v); }             \
    static T fma(T a, T b, T c) { return P##fmadd_ps(a, b, c); } \
    static T mul(T a, T b) { return P##mul_ps(a, b); }           \
    static T add(T a, T b) { return P##add_ps(a, b); }           \
    static T max(T a, T b) { return P##max_ps(a, b); }           \
  }

PEFTJS_SIMD_F32_VEC(F32x8, __m256, 8, _mm256_);

// Sum and max of the eight lanes.
inline float hsum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
inline float hmax8(__m256 v) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Lanes [0, count) set: masks a partial vector's loads and stores (count in 0..8).
inline __m256i lane_mask8(int64_t count) {
  const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(count)), lanes);
}

// In: r[i] holds row i of an 8x8 block. Out: r[j] holds column j.
inline void transpose8x8(__m256 r[8]) {
  const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
  const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
  const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
  const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
  const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
  const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  r[0] = _mm256_permute2f128_ps(u0, u4, 0x20);
  r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
  r[2] = _mm256_permute2f128_ps(u2, u6, 0x20);
  r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
  r[4] = _mm256_permute2f128_ps(u0, u4, 0x31);
  r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
  r[6] = _mm256_permute2f128_ps(u2, u6, 0x31);
  r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

}  // namespace simd
}  // namespace peftjs

PEFTJS_TARGET_END
