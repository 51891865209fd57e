// AVX2 gates: eight at a time, with the Cephes-style exp and log of vec_math_avx2.h (relative error ~1e-7,
// far inside what a stochastic gate needs) instead of eight scalar libm calls.
#include <immintrin.h>

#include <cmath>

#include "diff_prune_gates.h"
#include "simd_target.h"
#include "vec_math_avx2.h"

PEFTJS_TARGET_BEGIN("avx2,fma")

namespace peftjs {
namespace {

using avx2::exp8;
using avx2::log8;

__m256 sigmoid8(__m256 v) {
  const __m256 one = _mm256_set1_ps(1.0f);
  return _mm256_div_ps(one, _mm256_add_ps(one, exp8(_mm256_sub_ps(_mm256_setzero_ps(), v))));
}

// beta = 1 (the paper's and our default): the gate and the penalty term are both rational in one
// E = exp(-log_alpha), since sigmoid(log(u / (1 - u)) + la) = u / (u + (1 - u) E), sigmoid(la) = 1 / (1 + E)
// and sigmoid(la - shift) = 1 / (1 + E e^shift): one exp and two divisions per gate, where the general
// path takes a log, two exps and three divisions.
void gate_block_unit_beta(const float* log_alpha, const uint32_t* bits, int64_t n, bool training, const GateParams& g,
                          float shift, float* z, float* dz, float* penalty_term) {
  const __m256 one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();
  const __m256 span = _mm256_set1_ps(g.zeta - g.gamma), gamma = _mm256_set1_ps(g.gamma);
  const __m256 e_shift = _mm256_set1_ps(std::exp(shift));
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 la = _mm256_loadu_ps(log_alpha + i);
    const __m256 e = exp8(_mm256_sub_ps(zero, la));
    __m256 s;
    if (training) {
      const __m256i b = _mm256_srli_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(bits + i)), 8);
      const __m256 u = _mm256_mul_ps(_mm256_add_ps(_mm256_cvtepi32_ps(b), _mm256_set1_ps(0.5f)), _mm256_set1_ps(1.0f / 16777216.0f));
      s = _mm256_div_ps(u, _mm256_fmadd_ps(_mm256_sub_ps(one, u), e, u));
    } else {
      s = _mm256_div_ps(one, _mm256_add_ps(one, e));
    }
    const __m256 ds = _mm256_mul_ps(s, _mm256_sub_ps(one, s));
    const __m256 raw = _mm256_fmadd_ps(s, span, gamma);
    const __m256 inside = _mm256_and_ps(_mm256_cmp_ps(raw, zero, _CMP_GT_OQ), _mm256_cmp_ps(raw, one, _CMP_LT_OQ));
    _mm256_storeu_ps(z + i, _mm256_min_ps(_mm256_max_ps(raw, zero), one));
    _mm256_storeu_ps(dz + i, _mm256_and_ps(inside, _mm256_mul_ps(span, ds)));
    _mm256_storeu_ps(penalty_term + i, _mm256_div_ps(one, _mm256_fmadd_ps(e, e_shift, one)));
  }
  if (i < n) gate_block_scalar(log_alpha + i, bits + i, n - i, training, g, shift, z + i, dz + i, penalty_term + i);
}

}  // namespace

void gate_backward_avx2(const GateBackwardBlock& b, int64_t n, bool training, const GateParams& g, float shift, float lambda) {
  const __m256 one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();
  const __m256 gamma = _mm256_set1_ps(g.gamma), zeta = _mm256_set1_ps(g.zeta);
  const __m256 slope = _mm256_set1_ps(1.0f / ((g.zeta - g.gamma) * (training ? g.beta : 1.0f)));
  const __m256 lam = _mm256_set1_ps(lambda), e_shift = _mm256_set1_ps(std::exp(shift));
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 z = _mm256_loadu_ps(b.z + i), dw = _mm256_loadu_ps(b.dw + i);
    const __m256 inside = _mm256_and_ps(_mm256_cmp_ps(z, zero, _CMP_GT_OQ), _mm256_cmp_ps(z, one, _CMP_LT_OQ));
    const __m256 dz = _mm256_and_ps(inside, _mm256_mul_ps(_mm256_mul_ps(_mm256_sub_ps(z, gamma), _mm256_sub_ps(zeta, z)), slope));
    __m256 pen_grad = zero;
    if (lambda != 0.0f) {
      // p = sigmoid(la - shift) = 1 / (1 + exp(-la) e^shift)
      const __m256 e = exp8(_mm256_sub_ps(zero, _mm256_loadu_ps(b.log_alpha + i)));
      const __m256 pen = _mm256_div_ps(one, _mm256_fmadd_ps(e, e_shift, one));
      pen_grad = _mm256_mul_ps(lam, _mm256_mul_ps(pen, _mm256_sub_ps(one, pen)));
    }
    _mm256_storeu_ps(b.d_delta + i, _mm256_mul_ps(dw, z));
    _mm256_storeu_ps(b.d_log_alpha + i, _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_loadu_ps(b.delta + i)), dz, pen_grad));
  }
  if (i < n) {
    const GateBackwardBlock tail{b.dw + i, b.delta + i, b.log_alpha + i, b.z + i, b.d_delta + i, b.d_log_alpha + i};
    gate_backward_scalar(tail, n - i, training, g, shift, lambda);
  }
}

void gate_block_avx2(const float* log_alpha, const uint32_t* bits, int64_t n, bool training, const GateParams& g,
                     float shift, float* z, float* dz, float* penalty_term) {
  if (g.beta == 1.0f) {
    gate_block_unit_beta(log_alpha, bits, n, training, g, shift, z, dz, penalty_term);
    return;
  }
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
