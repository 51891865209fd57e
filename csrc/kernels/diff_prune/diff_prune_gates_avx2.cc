// AVX2 gates: eight at a time, with the Cephes-style exp and log of simd/math_avx2.h (relative error ~1e-7,
// far inside what a stochastic gate needs) instead of eight scalar libm calls.
#include <immintrin.h>

#include <cmath>
#include <cstdint>

#include "diff_prune_gates.h"
#include "../simd/target.h"
#include "../simd/math_avx2.h"

PEFTJS_TARGET_BEGIN("avx2,fma")

namespace peftjs {
namespace {

using simd::exp8;
using simd::log8;

__m256 sigmoid8(__m256 v) {
  const __m256 one = _mm256_set1_ps(1.0f);
  return _mm256_div_ps(one, _mm256_add_ps(one, exp8(_mm256_sub_ps(_mm256_setzero_ps(), v))));
}

// u in (0, 1) from a stream word: the top 24 bits moved half a step off zero, as the reference does.
inline __m256 uniform8(const uint32_t* bits) {
  const __m256i b = _mm256_srli_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(bits)), 8);
  return _mm256_mul_ps(_mm256_add_ps(_mm256_cvtepi32_ps(b), _mm256_set1_ps(0.5f)), _mm256_set1_ps(1.0f / 16777216.0f));
}

// Eight gates: z, dz/dlog_alpha and the penalty term sigmoid(log_alpha - shift).
struct Gates8 {
  __m256 z, dz, pen;
};

// The constants of a call, set once.
struct GateConsts {
  __m256 one, zero, span, gamma, inv_beta, shift, e_shift;
  bool training, unit_beta;
  GateConsts(const GateParams& g, float shift_value, bool training_mode)
      : one(_mm256_set1_ps(1.0f)), zero(_mm256_setzero_ps()), span(_mm256_set1_ps(g.zeta - g.gamma)),
        gamma(_mm256_set1_ps(g.gamma)), inv_beta(_mm256_set1_ps(1.0f / g.beta)), shift(_mm256_set1_ps(shift_value)),
        e_shift(_mm256_set1_ps(std::exp(shift_value))), training(training_mode), unit_beta(g.beta == 1.0f) {}
};

inline Gates8 finish_gates(const GateConsts& k, __m256 s, __m256 ds, __m256 pen) {
  const __m256 raw = _mm256_fmadd_ps(s, k.span, k.gamma);
  const __m256 inside = _mm256_and_ps(_mm256_cmp_ps(raw, k.zero, _CMP_GT_OQ), _mm256_cmp_ps(raw, k.one, _CMP_LT_OQ));
  return {_mm256_min_ps(_mm256_max_ps(raw, k.zero), k.one), _mm256_and_ps(inside, _mm256_mul_ps(k.span, ds)), pen};
}

// beta = 1 (the paper's and our default): the gate and the penalty term are both rational in one
// E = exp(-log_alpha), since sigmoid(log(u / (1 - u)) + la) = u / (u + (1 - u) E), sigmoid(la) = 1 / (1 + E)
// and sigmoid(la - shift) = 1 / (1 + E e^shift): one exp and two divisions per gate, where the general
// path takes a log, two exps and three divisions.
inline Gates8 gates8_unit_beta(const GateConsts& k, __m256 la, const uint32_t* bits) {
  const __m256 e = exp8(_mm256_sub_ps(k.zero, la));
  __m256 s;
  if (k.training) {
    const __m256 u = uniform8(bits);
    s = _mm256_div_ps(u, _mm256_fmadd_ps(_mm256_sub_ps(k.one, u), e, u));
  } else {
    s = _mm256_div_ps(k.one, _mm256_add_ps(k.one, e));
  }
  const __m256 ds = _mm256_mul_ps(s, _mm256_sub_ps(k.one, s));
  return finish_gates(k, s, ds, _mm256_div_ps(k.one, _mm256_fmadd_ps(e, k.e_shift, k.one)));
}

inline Gates8 gates8_general(const GateConsts& k, __m256 la, const uint32_t* bits) {
  __m256 s, ds;
  if (k.training) {
    // s = sigmoid((log(u / (1 - u)) + la) / beta)
    const __m256 u = uniform8(bits);
    const __m256 logit = log8(_mm256_div_ps(u, _mm256_sub_ps(k.one, u)));
    s = sigmoid8(_mm256_mul_ps(_mm256_add_ps(logit, la), k.inv_beta));
    ds = _mm256_mul_ps(_mm256_mul_ps(s, _mm256_sub_ps(k.one, s)), k.inv_beta);
  } else {
    s = sigmoid8(la);
    ds = _mm256_mul_ps(s, _mm256_sub_ps(k.one, s));
  }
  return finish_gates(k, s, ds, sigmoid8(_mm256_sub_ps(la, k.shift)));
}

inline Gates8 gates8(const GateConsts& k, const float* log_alpha, const uint32_t* bits) {
  const __m256 la = _mm256_loadu_ps(log_alpha);
  return k.unit_beta ? gates8_unit_beta(k, la, bits) : gates8_general(k, la, bits);
}

// Outputs too large to stay in cache bypass it (no read-for-ownership of lines about to be overwritten
// whole); the destination must then be 32-byte aligned, which the caller checks.
template <bool kStream>
inline void store8(float* p, __m256 v) {
  if constexpr (kStream) _mm256_stream_ps(p, v);
  else _mm256_storeu_ps(p, v);
}

inline bool aligned32(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 31) == 0; }

// Sums the penalty terms into acc[8] (lane j takes the gates i = j mod 8: the scalar path's order).
template <bool kStream>
void gate_forward_impl(const GateForwardBlock& b, int64_t n, const GateConsts& k, double* acc) {
  __m256d acc_lo = _mm256_setzero_pd(), acc_hi = _mm256_setzero_pd();
  for (int64_t i = 0; i + 8 <= n; i += 8) {
    const Gates8 g = gates8(k, b.log_alpha + i, b.bits + i);
    store8<kStream>(b.w_out + i, _mm256_fmadd_ps(g.z, _mm256_loadu_ps(b.delta + i), _mm256_loadu_ps(b.w + i)));
    if (b.z_out) store8<kStream>(b.z_out + i, g.z);
    acc_lo = _mm256_add_pd(acc_lo, _mm256_cvtps_pd(_mm256_castps256_ps128(g.pen)));
    acc_hi = _mm256_add_pd(acc_hi, _mm256_cvtps_pd(_mm256_extractf128_ps(g.pen, 1)));
  }
  if (kStream) _mm_sfence();  // streamed stores are weakly ordered: publish them before the task ends
  _mm256_storeu_pd(acc, acc_lo);
  _mm256_storeu_pd(acc + 4, acc_hi);
}

}  // namespace

double gate_forward_avx2(const GateForwardBlock& b, int64_t n, bool training, const GateParams& g, float shift, bool stream) {
  const GateConsts k(g, shift, training);
  const bool can_stream = stream && aligned32(b.w_out) && (b.z_out == nullptr || aligned32(b.z_out));
  const int64_t whole = n & ~int64_t{7};
  double acc[8];
  if (can_stream) gate_forward_impl<true>(b, whole, k, acc);
  else gate_forward_impl<false>(b, whole, k, acc);
  for (int64_t i = whole; i < n; ++i) {
    float z, dz, pen;
    gate_block_scalar(b.log_alpha + i, b.bits + i, 1, training, g, shift, &z, &dz, &pen);
    b.w_out[i] = b.w[i] + z * b.delta[i];
    if (b.z_out) b.z_out[i] = z;
    acc[0] += pen;
  }
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

void gate_block_avx2(const float* log_alpha, const uint32_t* bits, int64_t n, bool training, const GateParams& g,
                     float shift, float* z, float* dz, float* penalty_term) {
  const GateConsts k(g, shift, training);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const Gates8 gt = gates8(k, log_alpha + i, bits + i);
    _mm256_storeu_ps(z + i, gt.z);
    _mm256_storeu_ps(dz + i, gt.dz);
    _mm256_storeu_ps(penalty_term + i, gt.pen);
  }
  if (i < n) gate_block_scalar(log_alpha + i, bits + i, n - i, training, g, shift, z + i, dz + i, penalty_term + i);
}

namespace {

template <bool kStream>
void gate_backward_impl(const GateBackwardBlock& b, int64_t n, bool training, const GateParams& g, float shift, float lambda) {
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
    store8<kStream>(b.d_delta + i, _mm256_mul_ps(dw, z));
    store8<kStream>(b.d_log_alpha + i, _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_loadu_ps(b.delta + i)), dz, pen_grad));
  }
  if (kStream) _mm_sfence();
  if (i < n) {
    const GateBackwardBlock tail{b.dw + i, b.delta + i, b.log_alpha + i, b.z + i, b.d_delta + i, b.d_log_alpha + i};
    gate_backward_scalar(tail, n - i, training, g, shift, lambda, false);
  }
}

}  // namespace

void gate_backward_avx2(const GateBackwardBlock& b, int64_t n, bool training, const GateParams& g, float shift,
                        float lambda, bool stream) {
  if (stream && aligned32(b.d_delta) && aligned32(b.d_log_alpha)) gate_backward_impl<true>(b, n, training, g, shift, lambda);
  else gate_backward_impl<false>(b, n, training, g, shift, lambda);
}

}  // namespace peftjs

PEFTJS_TARGET_END
