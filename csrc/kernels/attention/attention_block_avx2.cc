// AVX2+FMA attention tile operations. The product is a register-blocked micro-kernel over up to six rows
// of A and sixteen columns of B (twelve accumulators), broadcasting A and streaming B's rows, with masked
// loads for a column tail (head_dim 1 or 17 takes the same code). exp is the vector Cephes exp.
#include <immintrin.h>

#include <cmath>
#include <limits>

#include "attention_block.h"
#include "../simd/target.h"
#include "../simd/math_avx2.h"

PEFTJS_TARGET_BEGIN("avx2,fma")

namespace peftjs {
namespace {

using simd::exp8;

// C[MR, 8 NV] (+)= A[MR, k] B[k, 8 NV]; with MASKED the last vector of columns is cut to `mask`.
// GCC keeps acc in registers only when these loops are unrolled before it splits the array up, hence
// the pragmas (without them every FMA result went through the stack: ~3x slower).
#define PEFTJS_UNROLL PEFTJS_PRAGMA(GCC unroll 8)

template <int MR, int NV, bool MASKED>
void tile(int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb, float* c, int64_t ldc, bool accumulate,
          __m256i mask) {
  __m256 acc[MR][NV];
  PEFTJS_UNROLL for (int i = 0; i < MR; ++i) {
    PEFTJS_UNROLL for (int v = 0; v < NV; ++v) {
      const float* cp = c + i * ldc + 8 * v;
      acc[i][v] = !accumulate ? _mm256_setzero_ps()
                  : (MASKED && v == NV - 1) ? _mm256_maskload_ps(cp, mask)
                                            : _mm256_loadu_ps(cp);
    }
  }
  for (int64_t p = 0; p < k; ++p) {
    __m256 bv[NV];
    PEFTJS_UNROLL for (int v = 0; v < NV; ++v) {
      const float* bp = b + p * ldb + 8 * v;
      bv[v] = (MASKED && v == NV - 1) ? _mm256_maskload_ps(bp, mask) : _mm256_loadu_ps(bp);
    }
    PEFTJS_UNROLL for (int i = 0; i < MR; ++i) {
      const __m256 ai = _mm256_broadcast_ss(a + i * lda + p);
      PEFTJS_UNROLL for (int v = 0; v < NV; ++v) acc[i][v] = _mm256_fmadd_ps(ai, bv[v], acc[i][v]);
    }
  }
  PEFTJS_UNROLL for (int i = 0; i < MR; ++i) {
    PEFTJS_UNROLL for (int v = 0; v < NV; ++v) {
      float* cp = c + i * ldc + 8 * v;
      if (MASKED && v == NV - 1) _mm256_maskstore_ps(cp, mask, acc[i][v]);
      else _mm256_storeu_ps(cp, acc[i][v]);
    }
  }
}

// One band of MR rows across all n columns: sixteen at a time, then eight, then a masked tail.
template <int MR>
void band(int64_t n, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb, float* c, int64_t ldc,
          bool accumulate) {
  const __m256i all = _mm256_set1_epi32(-1);
  int64_t j = 0;
  for (; j + 16 <= n; j += 16) tile<MR, 2, false>(k, a, lda, b + j, ldb, c + j, ldc, accumulate, all);
  if (j + 8 <= n) {
    tile<MR, 1, false>(k, a, lda, b + j, ldb, c + j, ldc, accumulate, all);
    j += 8;
  }
  if (j < n) tile<MR, 1, true>(k, a, lda, b + j, ldb, c + j, ldc, accumulate, simd::lane_mask8(n - j));
}

void matmul_avx2(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb, float* c,
                 int64_t ldc, bool accumulate) {
  int64_t i = 0;
  for (; i + 6 <= m; i += 6) band<6>(n, k, a + i * lda, lda, b, ldb, c + i * ldc, ldc, accumulate);
  switch (m - i) {
    case 5: band<5>(n, k, a + i * lda, lda, b, ldb, c + i * ldc, ldc, accumulate); break;
    case 4: band<4>(n, k, a + i * lda, lda, b, ldb, c + i * ldc, ldc, accumulate); break;
    case 3: band<3>(n, k, a + i * lda, lda, b, ldb, c + i * ldc, ldc, accumulate); break;
    case 2: band<2>(n, k, a + i * lda, lda, b, ldb, c + i * ldc, ldc, accumulate); break;
    case 1: band<1>(n, k, a + i * lda, lda, b, ldb, c + i * ldc, ldc, accumulate); break;
    default: break;
  }
}

float exp_shifted_avx2(const float* s, int64_t n, float shift, float* p) {
  const __m256 sh = _mm256_set1_ps(shift), hidden = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
  __m256 sum = _mm256_setzero_ps();
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    const __m256 x = _mm256_loadu_ps(s + j);
    // exp8 clamps, so a hidden key's exp(-inf) would be ~1e-38, not 0: mask it to an exact zero.
    const __m256 e = _mm256_andnot_ps(_mm256_cmp_ps(x, hidden, _CMP_EQ_OQ), exp8(_mm256_sub_ps(x, sh)));
    _mm256_storeu_ps(p + j, e);
    sum = _mm256_add_ps(sum, e);
  }
  float total = simd::hsum8(sum);
  for (; j < n; ++j) {
    p[j] = s[j] == -std::numeric_limits<float>::infinity() ? 0.0f : std::exp(s[j] - shift);
    total += p[j];
  }
  return total;
}

float row_max_avx2(const float* s, int64_t n) {
  float m = s[0];
  bool nan = false;
  int64_t j = 0;
  if (n >= 8) {
    __m256 v = _mm256_loadu_ps(s);
    __m256 unordered = _mm256_cmp_ps(v, v, _CMP_UNORD_Q);  // max_ps drops a NaN; remember it apart
    for (j = 8; j + 8 <= n; j += 8) {
      const __m256 x = _mm256_loadu_ps(s + j);
      v = _mm256_max_ps(v, x);
      unordered = _mm256_or_ps(unordered, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
    }
    m = simd::hmax8(v);
    nan = _mm256_movemask_ps(unordered) != 0;
  }
  for (; j < n; ++j) {
    m = s[j] > m ? s[j] : m;
    nan |= std::isnan(s[j]);
  }
  return nan ? std::numeric_limits<float>::quiet_NaN() : m;
}

// 8x8 blocks transposed in registers (a scalar transpose stores each element to its own cache line and
// cost a fifth of the forward); the edges go element by element.
void transpose_avx2(const float* src, int64_t stride, int64_t rows, int64_t cols, float mul, float* dst, int64_t ld) {
  const __m256 m = _mm256_set1_ps(mul);
  const int64_t r8 = rows / 8 * 8, c8 = cols / 8 * 8;
  for (int64_t r = 0; r < r8; r += 8)
    for (int64_t c = 0; c < c8; c += 8) {
      __m256 x[8];
      for (int i = 0; i < 8; ++i) x[i] = _mm256_loadu_ps(src + (r + i) * stride + c);
      simd::transpose8x8(x);
      for (int i = 0; i < 8; ++i) _mm256_storeu_ps(dst + (c + i) * ld + r, _mm256_mul_ps(m, x[i]));
    }
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = (r < r8 ? c8 : 0); c < cols; ++c) dst[c * ld + r] = mul * src[r * stride + c];
}

}  // namespace

AttentionBlockOps attention_block_ops_avx2() {
  return {matmul_avx2, exp_shifted_avx2, transpose_avx2, row_max_avx2};
}

}  // namespace peftjs

PEFTJS_TARGET_END
