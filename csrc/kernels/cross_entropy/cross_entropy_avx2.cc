// The cross-entropy row passes eight lanes at a time with the vectorized exp of simd/math_avx2.h:
// over a 32K vocabulary the exp is the whole cost, and libm's scalar expf is ~8x slower.
#include <immintrin.h>

#include <cmath>

#include "cross_entropy.h"
#include "../simd/target.h"
#include "../simd/math_avx2.h"

PEFTJS_TARGET_BEGIN("avx2,fma")

namespace peftjs {

float row_lse_avx2(const float* x, int64_t n) {
  int64_t j = 0;
  __m256 m0 = _mm256_set1_ps(-INFINITY), m1 = m0, m2 = m0, m3 = m0;
  for (; j + 32 <= n; j += 32) {
    m0 = _mm256_max_ps(m0, _mm256_loadu_ps(x + j));
    m1 = _mm256_max_ps(m1, _mm256_loadu_ps(x + j + 8));
    m2 = _mm256_max_ps(m2, _mm256_loadu_ps(x + j + 16));
    m3 = _mm256_max_ps(m3, _mm256_loadu_ps(x + j + 24));
  }
  for (; j + 8 <= n; j += 8) m0 = _mm256_max_ps(m0, _mm256_loadu_ps(x + j));
  float m = simd::hmax8(_mm256_max_ps(_mm256_max_ps(m0, m1), _mm256_max_ps(m2, m3)));
  for (; j < n; ++j) m = x[j] > m ? x[j] : m;

  // The float lanes are emptied into a double every 1024 elements, so a 32K row's sum keeps float's
  // precision per block rather than losing ~log2(32K / 16) bits to one long float accumulation.
  const __m256 mv = _mm256_set1_ps(m);
  double s = 0.0;
  j = 0;
  while (j + 16 <= n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = s0;
    const int64_t end = j + 1024 < n ? j + 1024 : n;
    for (; j + 16 <= end; j += 16) {
      s0 = _mm256_add_ps(s0, simd::exp8_or_zero(_mm256_sub_ps(_mm256_loadu_ps(x + j), mv)));
      s1 = _mm256_add_ps(s1, simd::exp8_or_zero(_mm256_sub_ps(_mm256_loadu_ps(x + j + 8), mv)));
    }
    s += simd::hsum8(_mm256_add_ps(s0, s1));
  }
  for (; j < n; ++j) s += std::exp(x[j] - m);
  return m + static_cast<float>(std::log(s));
}

void row_softmax_scaled_avx2(const float* x, int64_t n, float lse, float scale, float* out) {
  const __m256 lv = _mm256_set1_ps(lse), sv = _mm256_set1_ps(scale);
  int64_t j = 0;
  for (; j + 8 <= n; j += 8)
    _mm256_storeu_ps(out + j, _mm256_mul_ps(simd::exp8_or_zero(_mm256_sub_ps(_mm256_loadu_ps(x + j), lv)), sv));
  for (; j < n; ++j) out[j] = std::exp(x[j] - lse) * scale;
}

}  // namespace peftjs

PEFTJS_TARGET_END
