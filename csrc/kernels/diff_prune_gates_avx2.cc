// AVX2 gates: eight at a time, with Cephes-style exp and log (relative error ~1e-7, far inside what a
// stochastic gate needs) instead of eight scalar libm calls.
#include <immintrin.h>

#include <cmath>

#include "diff_prune_gates.h"
#include "simd_target.h"

PEFTJS_TARGET_BEGIN("avx2,fma")

namespace peftjs {
namespace {

#include "exp_avx2.inc"

// log(x) for x > 0 (finite, normal).
__m256 log8(__m256 x) {
  const __m256i xi = _mm256_castps_si256(x);
  __m256 e = _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_srli_epi32(xi, 23), _mm256_set1_epi32(126)));
  // mantissa in [0.5, 1)
  __m256 m = _mm256_castsi256_ps(_mm256_or_si256(_mm256_and_si256(xi, _mm256_set1_epi32(0x007fffff)), _mm256_set1_epi32(0x3f000000)));
  const __m256 small = _mm256_cmp_ps(m, _mm256_set1_ps(0.707106781186547524f), _CMP_LT_OQ);
  e = _mm256_sub_ps(e, _mm256_and_ps(small, _mm256_set1_ps(1.0f)));
  m = _mm256_sub_ps(_mm256_add_ps(m, _mm256_and_ps(small, m)), _mm256_set1_ps(1.0f));
  const __m256 z = _mm256_mul_ps(m, m);
  __m256 y = _mm256_set1_ps(7.0376836292e-2f);
  y = _mm256_fmadd_ps(y, m, _mm256_set1_ps(-1.1514610310e-1f));
  y = _mm256_fmadd_ps(y, m, _mm256_set1_ps(1.1676998740e-1f));
  y = _mm256_fmadd_ps(y, m, _mm256_set1_ps(-1.2420140846e-1f));
  y = _mm256_fmadd_ps(y, m, _mm256_set1_ps(1.4249322787e-1f));
  y = _mm256_fmadd_ps(y, m, _mm256_set1_ps(-1.6668057665e-1f));
  y = _mm256_fmadd_ps(y, m, _mm256_set1_ps(2.0000714765e-1f));
  y = _mm256_fmadd_ps(y, m, _mm256_set1_ps(-2.4999993993e-1f));
  y = _mm256_fmadd_ps(y, m, _mm256_set1_ps(3.3333331174e-1f));
  y = _mm256_mul_ps(_mm256_mul_ps(y, m), z);
  y = _mm256_fmadd_ps(e, _mm256_set1_ps(-2.12194440e-4f), y);
  y = _mm256_fnmadd_ps(z, _mm256_set1_ps(0.5f), y);
  return _mm256_fmadd_ps(e, _mm256_set1_ps(0.693359375f), _mm256_add_ps(m, y));
}

__m256 sigmoid8(__m256 v) {
  const __m256 one = _mm256_set1_ps(1.0f);
  return _mm256_div_ps(one, _mm256_add_ps(one, exp8(_mm256_sub_ps(_mm256_setzero_ps(), v))));
}

}  // namespace

void gate_block_avx2(const float* log_alpha, const uint32_t* bits, int64_t n, bool training, const GateParams& g,
                     float shift, float* z, float* dz, float* penalty_term) {
  const __m256 one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();
  const __m256 span = _mm256_set1_ps(g.zeta - g.gamma), gamma = _mm256_set1_ps(g.gamma);
  const __m256 inv_beta = _mm256_set1_ps(1.0f / g.beta), shift8 = _mm256_set1_ps(shift);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 la = _mm256_loadu_ps(log_alpha + i);
    __m256 s, ds;
    if (training) {
      // u = ((bits >> 8) + 0.5) / 2^24, then s = sigmoid((log(u / (1 - u)) + la) / beta)
      const __m256i b = _mm256_srli_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(bits + i)), 8);
      const __m256 u = _mm256_mul_ps(_mm256_add_ps(_mm256_cvtepi32_ps(b), _mm256_set1_ps(0.5f)), _mm256_set1_ps(1.0f / 16777216.0f));
      const __m256 logit = log8(_mm256_div_ps(u, _mm256_sub_ps(one, u)));
      s = sigmoid8(_mm256_mul_ps(_mm256_add_ps(logit, la), inv_beta));
      ds = _mm256_mul_ps(_mm256_mul_ps(s, _mm256_sub_ps(one, s)), inv_beta);
    } else {
      s = sigmoid8(la);
      ds = _mm256_mul_ps(s, _mm256_sub_ps(one, s));
    }
    const __m256 raw = _mm256_fmadd_ps(s, span, gamma);
    const __m256 inside = _mm256_and_ps(_mm256_cmp_ps(raw, zero, _CMP_GT_OQ), _mm256_cmp_ps(raw, one, _CMP_LT_OQ));
    _mm256_storeu_ps(z + i, _mm256_min_ps(_mm256_max_ps(raw, zero), one));
    _mm256_storeu_ps(dz + i, _mm256_and_ps(inside, _mm256_mul_ps(span, ds)));
    _mm256_storeu_ps(penalty_term + i, sigmoid8(_mm256_sub_ps(la, shift8)));
  }
  if (i < n) gate_block_scalar(log_alpha + i, bits + i, n - i, training, g, shift, z + i, dz + i, penalty_term + i);
}

}  // namespace peftjs

PEFTJS_TARGET_END
