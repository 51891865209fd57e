// AVX2+FMA loops of the activations and their derivatives on the functions of vec_act_avx2.h. The tail
// (n % 8) goes through masked loads and stores so every element gets the same formula whatever its
// position, and a chunk boundary of the thread pool never changes a result.
#include <immintrin.h>

#include "activations.h"
#include "../simd/target.h"
#include "../simd/act_avx2.h"

PEFTJS_TARGET_BEGIN("avx2,fma")

namespace peftjs {
namespace {

using simd::normal_cdf8;
using simd::sigmoid8_parts;
using simd::tanh8_parts;

constexpr float kSqrt2OverPi = 0.79788456080286536f, kInvSqrt2Pi = 0.39894228040143268f, kC = 0.044715f;

// gelu_tanh's tanh(u), u = sqrt(2/pi) (x + 0.044715 x^3), as sigmoid(2u): (1 + tanh u) / 2 = sigmoid(2u).
inline __m256 gelu_tanh_v(__m256 x, __m256 x2) {
  return _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(2.0f * kSqrt2OverPi), x), _mm256_fmadd_ps(_mm256_set1_ps(kC), x2, _mm256_set1_ps(1.0f)));
}

inline __m256 f_exp(__m256 x) { return simd::exp8_ieee(x); }
inline __m256 f_tanh(__m256 x) { return tanh8_parts(x).t; }
inline __m256 f_sigmoid(__m256 x) { return sigmoid8_parts(x).s; }
inline __m256 f_silu(__m256 x) { return _mm256_mul_ps(x, sigmoid8_parts(x).s); }
inline __m256 f_gelu(__m256 x) { return _mm256_mul_ps(x, normal_cdf8(x).phi_cdf); }
inline __m256 f_gelu_tanh(__m256 x) { return _mm256_mul_ps(x, sigmoid8_parts(gelu_tanh_v(x, _mm256_mul_ps(x, x))).s); }

inline __m256 d_tanh(__m256 x) { return tanh8_parts(x).dt; }
inline __m256 d_sigmoid(__m256 x) {
  const auto p = sigmoid8_parts(x);
  return _mm256_mul_ps(p.s, p.sc);
}
// d/dx x s(x) = s (1 + x (1 - s))
inline __m256 d_silu(__m256 x) {
  const auto p = sigmoid8_parts(x);
  return _mm256_mul_ps(p.s, _mm256_fmadd_ps(x, p.sc, _mm256_set1_ps(1.0f)));
}
// d/dx x Phi(x) = Phi(x) + x exp(-x^2/2) / sqrt(2 pi)
inline __m256 d_gelu(__m256 x) {
  const auto p = normal_cdf8(x);
  return _mm256_fmadd_ps(_mm256_mul_ps(x, _mm256_set1_ps(kInvSqrt2Pi)), p.gauss, p.phi_cdf);
}
// y = x s(v), v = 2 sqrt(2/pi) (x + c x^3): y' = s + x s (1 - s) 2 sqrt(2/pi) (1 + 3c x^2). x^2 is capped at
// 1e4 in the last factor (past |x| = 100, s (1 - s) is exactly 0) and x multiplies last, so a finite x
// never makes inf * 0 (x^2 overflows float from |x| ~ 1.8e19) while x = +-inf still gives NaN as libm would.
inline __m256 d_gelu_tanh(__m256 x) {
  const __m256 x2 = _mm256_mul_ps(x, x);
  const auto p = sigmoid8_parts(gelu_tanh_v(x, x2));
  const __m256 x2c = _mm256_min_ps(x2, _mm256_set1_ps(1e4f));
  const __m256 g = _mm256_mul_ps(_mm256_mul_ps(p.s, p.sc), _mm256_fmadd_ps(_mm256_set1_ps(2.0f * kSqrt2OverPi * 3.0f * kC), x2c, _mm256_set1_ps(2.0f * kSqrt2OverPi)));
  return _mm256_fmadd_ps(x, g, p.s);
}

inline __m256i tail_mask(int64_t left) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(left)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

template <__m256 (*F)(__m256)>
void map8(const float* a, float* out, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, F(_mm256_loadu_ps(a + i)));
  if (i < n) {
    const __m256i m = tail_mask(n - i);
    _mm256_maskstore_ps(out + i, m, F(_mm256_maskload_ps(a + i, m)));
  }
}

template <__m256 (*D)(__m256)>
void grad8(const float* x, const float* dy, float* dx, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dx + i, _mm256_mul_ps(_mm256_loadu_ps(dy + i), D(_mm256_loadu_ps(x + i))));
  if (i < n) {
    const __m256i m = tail_mask(n - i);
    _mm256_maskstore_ps(dx + i, m, _mm256_mul_ps(_mm256_maskload_ps(dy + i, m), D(_mm256_maskload_ps(x + i, m))));
  }
}

}  // namespace

bool has_activation_avx2(UnaryOp op) {
  switch (op) {
    case UnaryOp::Exp: case UnaryOp::Tanh: case UnaryOp::Sigmoid: case UnaryOp::Silu: case UnaryOp::Gelu: case UnaryOp::GeluTanh:
      return true;
    default:
      return false;
  }
}

void activation_avx2(UnaryOp op, const float* a, float* out, int64_t n) {
  switch (op) {
    case UnaryOp::Exp: return map8<f_exp>(a, out, n);
    case UnaryOp::Tanh: return map8<f_tanh>(a, out, n);
    case UnaryOp::Sigmoid: return map8<f_sigmoid>(a, out, n);
    case UnaryOp::Silu: return map8<f_silu>(a, out, n);
    case UnaryOp::Gelu: return map8<f_gelu>(a, out, n);
    case UnaryOp::GeluTanh: return map8<f_gelu_tanh>(a, out, n);
    default: return;
  }
}

void activation_backward_avx2(UnaryOp op, const float* x, const float* dy, float* dx, int64_t n) {
  switch (op) {
    case UnaryOp::Exp: return grad8<f_exp>(x, dy, dx, n);
    case UnaryOp::Tanh: return grad8<d_tanh>(x, dy, dx, n);
    case UnaryOp::Sigmoid: return grad8<d_sigmoid>(x, dy, dx, n);
    case UnaryOp::Silu: return grad8<d_silu>(x, dy, dx, n);
    case UnaryOp::Gelu: return grad8<d_gelu>(x, dy, dx, n);
    case UnaryOp::GeluTanh: return grad8<d_gelu_tanh>(x, dy, dx, n);
    default: return;
  }
}

}  // namespace peftjs

PEFTJS_TARGET_END
