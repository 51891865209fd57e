// Eight-wide activation functions for AVX2+FMA (exp over the full range, tanh, sigmoid, the normal CDF
// behind exact GELU), each with the pieces its derivative needs. Accuracy goal: a few float ulps
// relative everywhere, so a gradient's tail (GELU of x = -5 is ~1e-6 of x) keeps its digits; that is why
// 1 + tanh(u) is never formed (it cancels for u << 0) and why each function computes both sigma(v) and
// 1 - sigma(v) without subtracting. Edges are libm's: tanh saturates to exactly +-1, exp overflows to
// +inf and underflows through subnormals to 0, NaN in gives NaN out, -0 keeps its sign where f(-0) = -0.
// Only for *_avx2.cc files (see math_avx2.h).
#pragma once

#include <immintrin.h>

#include "target.h"
#include "math_avx2.h"

PEFTJS_TARGET_BEGIN("avx2,fma")

namespace peftjs {
namespace simd {

inline __m256 abs8(__m256 x) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), x); }
inline __m256 signbit8(__m256 x) { return _mm256_and_ps(_mm256_set1_ps(-0.0f), x); }
// y, with x's NaNs put back (the clamps inside exp turn a NaN into a number).
inline __m256 keep_nan8(__m256 y, __m256 x) { return _mm256_blendv_ps(y, x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q)); }

// exp(x) as libm: +inf above ~88.72, subnormals then 0 below ~-87.3, NaN kept. 2^n is applied in two
// halves so that both factors are normal floats and only the last product rounds (gradual underflow).
inline __m256 exp8_ieee(__m256 x) {
  const __m256 xc = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-104.0f)), _mm256_set1_ps(89.0f));
  __m256 n;
  const __m256 p = exp8_reduced(xc, &n);
  const __m256i ni = _mm256_cvtps_epi32(n);
  const __m256i n1 = _mm256_srai_epi32(ni, 1), n2 = _mm256_sub_epi32(ni, n1);  // each in [-75, 64]
  const __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, _mm256_set1_epi32(127)), 23));
  const __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, _mm256_set1_epi32(127)), 23));
  return keep_nan8(_mm256_mul_ps(_mm256_mul_ps(p, s1), s2), x);
}

// tanh(x) and 1 - tanh(x)^2. Below |x| = 0.625 Cephes' odd polynomial; above, 1 - q with
// q = 2 / (exp(2|x|) + 1) = 1 - |tanh x|, so 1 - t^2 = q (2 - q) has no cancellation. exp8 clamps at
// 88.3, so q is ~1e-38 (not NaN) for huge |x| and t rounds to exactly +-1.
struct Tanh8 {
  __m256 t, dt;
};
inline Tanh8 tanh8_parts(__m256 x) {
  const __m256 ax = abs8(x), one = _mm256_set1_ps(1.0f);
  const __m256 z = _mm256_mul_ps(ax, ax);
  __m256 p = _mm256_set1_ps(-5.70498872745e-3f);
  p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(2.06390887954e-2f));
  p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(-5.37397155531e-2f));
  p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(1.33314422036e-1f));
  p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(-3.33332819422e-1f));
  const __m256 small = _mm256_fmadd_ps(_mm256_mul_ps(p, z), ax, ax);
  const __m256 s = exp8(_mm256_add_ps(ax, ax));
  const __m256 q = _mm256_div_ps(_mm256_set1_ps(2.0f), _mm256_add_ps(s, one));
  const __m256 use_small = _mm256_cmp_ps(ax, _mm256_set1_ps(0.625f), _CMP_LT_OQ);
  const __m256 t = _mm256_blendv_ps(_mm256_sub_ps(one, q), small, use_small);
  const __m256 dt = _mm256_blendv_ps(_mm256_mul_ps(q, _mm256_sub_ps(_mm256_set1_ps(2.0f), q)), _mm256_fnmadd_ps(small, small, one), use_small);
  return {keep_nan8(_mm256_or_ps(t, signbit8(x)), x), keep_nan8(dt, x)};
}

// sigmoid(v) and 1 - sigmoid(v), from e = exp(-|v|): 1 / (1 + e) and e / (1 + e) are both accurate, one is
// sigmoid and the other its complement by the sign of v. e is exactly 0 below -87.3 (sigmoid of -100 is
// 0, as libm's 1 / (1 + inf)), and NaN for NaN, which then reaches both results.
struct Sigmoid8 {
  __m256 s, sc;
};
inline Sigmoid8 sigmoid8_parts(__m256 v) {
  const __m256 e = exp8_or_zero(_mm256_sub_ps(_mm256_setzero_ps(), abs8(v)));
  const __m256 a = _mm256_div_ps(_mm256_set1_ps(1.0f), _mm256_add_ps(_mm256_set1_ps(1.0f), e));
  const __m256 b = _mm256_mul_ps(e, a);
  const __m256 pos = _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_GE_OQ);
  return {_mm256_blendv_ps(b, a, pos), _mm256_blendv_ps(a, b, pos)};
}

// The normal CDF Phi(x) = (1 + erf(x / sqrt 2)) / 2 and exp(-x^2 / 2). Cephes erff (|z| < 1, relative error
// ~1e-9 in exact arithmetic) and erfcf (|z| >= 1: exp(-z^2) / z * P(1/z^2), ~3e-8), with Phi of negative x
// taken from erfc directly so its tail is accurate relative to itself. exp(-x^2/2) is the product of
// exp(-hi/2) and 1 - lo/2 where x^2 = hi + lo exactly (FMA): rounding x^2 first would cost |x^2| ulps.
struct Phi8 {
  __m256 phi_cdf, gauss;  // Phi(x), exp(-x^2/2)
};
inline Phi8 normal_cdf8(__m256 x) {
  const __m256 half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.0f);
  const __m256 ax = _mm256_min_ps(abs8(x), _mm256_set1_ps(20.0f));  // past 20 both tails are 0; NaN -> 20
  const __m256 z = _mm256_mul_ps(ax, _mm256_set1_ps(0.70710678118654752f));
  const __m256 hi = _mm256_mul_ps(ax, ax), lo = _mm256_fmsub_ps(ax, ax, hi);
  const __m256 gauss = _mm256_mul_ps(exp8_or_zero(_mm256_mul_ps(_mm256_set1_ps(-0.5f), hi)), _mm256_fnmadd_ps(half, lo, one));

  const __m256 z2 = _mm256_mul_ps(z, z);
  __m256 t = _mm256_set1_ps(7.853861353153693e-5f);
  t = _mm256_fmadd_ps(t, z2, _mm256_set1_ps(-8.010193625184903e-4f));
  t = _mm256_fmadd_ps(t, z2, _mm256_set1_ps(5.188327685732524e-3f));
  t = _mm256_fmadd_ps(t, z2, _mm256_set1_ps(-2.685381193529856e-2f));
  t = _mm256_fmadd_ps(t, z2, _mm256_set1_ps(1.128358514861418e-1f));
  t = _mm256_fmadd_ps(t, z2, _mm256_set1_ps(-3.761262582423300e-1f));
  t = _mm256_fmadd_ps(t, z2, _mm256_set1_ps(1.128379165726710f));
  const __m256 half_erf = _mm256_mul_ps(_mm256_mul_ps(half, z), t);

  const __m256 rz = _mm256_div_ps(one, z), y = _mm256_mul_ps(rz, rz);
  __m256 p = _mm256_set1_ps(2.326819970068386e-2f);  // 1 <= z < 2
  p = _mm256_fmadd_ps(p, y, _mm256_set1_ps(-1.387039388740657e-1f));
  p = _mm256_fmadd_ps(p, y, _mm256_set1_ps(3.687424674597105e-1f));
  p = _mm256_fmadd_ps(p, y, _mm256_set1_ps(-5.824733027278666e-1f));
  p = _mm256_fmadd_ps(p, y, _mm256_set1_ps(6.210004621745983e-1f));
  p = _mm256_fmadd_ps(p, y, _mm256_set1_ps(-4.944515323274145e-1f));
  p = _mm256_fmadd_ps(p, y, _mm256_set1_ps(3.404879937665872e-1f));
  p = _mm256_fmadd_ps(p, y, _mm256_set1_ps(-2.741127028184656e-1f));
  p = _mm256_fmadd_ps(p, y, _mm256_set1_ps(5.638259427386472e-1f));
  __m256 r = _mm256_set1_ps(-1.047766399936249e+1f);  // z >= 2
  r = _mm256_fmadd_ps(r, y, _mm256_set1_ps(1.297719955371784e+1f));
  r = _mm256_fmadd_ps(r, y, _mm256_set1_ps(-7.495518717768503f));
  r = _mm256_fmadd_ps(r, y, _mm256_set1_ps(2.921019019210786f));
  r = _mm256_fmadd_ps(r, y, _mm256_set1_ps(-1.015265279202700f));
  r = _mm256_fmadd_ps(r, y, _mm256_set1_ps(4.218463358204948e-1f));
  r = _mm256_fmadd_ps(r, y, _mm256_set1_ps(-2.820767439740514e-1f));
  r = _mm256_fmadd_ps(r, y, _mm256_set1_ps(5.641895067754075e-1f));
  const __m256 poly = _mm256_blendv_ps(r, p, _mm256_cmp_ps(z, _mm256_set1_ps(2.0f), _CMP_LT_OQ));
  const __m256 half_erfc = _mm256_mul_ps(_mm256_mul_ps(half, gauss), _mm256_mul_ps(rz, poly));

  const __m256 neg = _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LT_OQ);
  const __m256 near = _mm256_blendv_ps(_mm256_add_ps(half, half_erf), _mm256_sub_ps(half, half_erf), neg);
  const __m256 far = _mm256_blendv_ps(_mm256_sub_ps(one, half_erfc), half_erfc, neg);
  const __m256 cdf = _mm256_blendv_ps(far, near, _mm256_cmp_ps(z, one, _CMP_LT_OQ));
  return {keep_nan8(cdf, x), keep_nan8(gauss, x)};
}

}  // namespace simd
}  // namespace peftjs

PEFTJS_TARGET_END
