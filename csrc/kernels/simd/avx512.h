// The AVX-512 half of the SIMD vocabulary: F32x16, with the members of F32x8 (avx2.h), so a kernel
// written over a vector type V takes either. Compiled for AVX-512 whatever the build flags; callers
// dispatch on cpu_features (simd/dispatch.h). Include it before a file's own PEFTJS_TARGET_BEGIN.
#pragma once

#include <immintrin.h>

#include "../simd_target.h"
#include "avx2.h"

#define PEFTJS_AVX512_ISA "avx512f,avx512vl,avx512dq,avx512bw,avx2,fma"

PEFTJS_TARGET_BEGIN(PEFTJS_AVX512_ISA)

namespace peftjs {
namespace simd {

struct F32x16 {
  using T = __m512;
  static constexpr int L = 16;
  static T zero() { return _mm512_setzero_ps(); }
  static T load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, T v) { _mm512_storeu_ps(p, v); }
  static T set1(float v) { return _mm512_set1_ps(v); }
  static T fma(T a, T b, T c) { return _mm512_fmadd_ps(a, b, c); }
  static T mul(T a, T b) { return _mm512_mul_ps(a, b); }
  static T add(T a, T b) { return _mm512_add_ps(a, b); }
  static T max(T a, T b) { return _mm512_max_ps(a, b); }
};

}  // namespace simd
}  // namespace peftjs

PEFTJS_TARGET_END
