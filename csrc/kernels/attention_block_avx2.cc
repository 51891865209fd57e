// AVX2+FMA attention tile operations. The product is a register-blocked micro-kernel over up to six rows
// of A and sixteen columns of B (twelve accumulators), broadcasting A and streaming B's rows, with masked
// loads for a column tail (head_dim 1 or 17 takes the same code). exp is the vector Cephes exp.
#include <immintrin.h>

#include <cmath>
#include <limits>

#include "attention_block.h"
#include "simd_target.h"

PEFTJS_TARGET_BEGIN("avx2,fma")

namespace peftjs {
namespace {

#include "exp_avx2.inc"

// Lanes [0, count) on, for a masked tail of 1..8 columns.
__m256i tail_mask(int64_t count) {
  const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(count)), lanes);
}

// C[MR, 8 NV] (+)= A[MR, k] B[k, 8 NV]; with MASKED the last vector of columns is cut to `mask`.
template <int MR, int NV, bool MASKED>
void tile(int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb, float* c, int64_t ldc, bool accumulate,
          __m256i mask) {
  __m256 acc[MR][NV];
  for (int i = 0; i < MR; ++i)
    for (int v = 0; v < NV; ++v) {
      const float* cp = c + i * ldc + 8 * v;
      acc[i][v] = !accumulate ? _mm256_setzero_ps()
                  : (MASKED && v == NV - 1) ? _mm256_maskload_ps(cp, mask)
                                            : _mm256_loadu_ps(cp);
    }
  for (int64_t p = 0; p < k; ++p) {
    __m256 bv[NV];
    for (int v = 0; v < NV; ++v) {
      const float* bp = b + p * ldb + 8 * v;
      bv[v] = (MASKED && v == NV - 1) ? _mm256_maskload_ps(bp, mask) : _mm256_loadu_ps(bp);
    }
    for (int i = 0; i < MR; ++i) {
      const __m256 ai = _mm256_broadcast_ss(a + i * lda + p);
      for (int v = 0; v < NV; ++v) acc[i][v] = _mm256_fmadd_ps(ai, bv[v], acc[i][v]);
    }
  }
  for (int i = 0; i < MR; ++i)
    for (int v = 0; v < NV; ++v) {
      float* cp = c + i * ldc + 8 * v;
      if (MASKED && v == NV - 1) _mm256_maskstore_ps(cp, mask, acc[i][v]);
      else _mm256_storeu_ps(cp, acc[i][v]);
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
  if (j < n) tile<MR, 1, true>(k, a, lda, b + j, ldb, c + j, ldc, accumulate, tail_mask(n - j));
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
  __m128 h = _mm_add_ps(_mm256_castps256_ps128(sum), _mm256_extractf128_ps(sum, 1));
  h = _mm_add_ps(h, _mm_movehl_ps(h, h));
  h = _mm_add_ss(h, _mm_movehdup_ps(h));
  float total = _mm_cvtss_f32(h);
  for (; j < n; ++j) {
    p[j] = s[j] == -std::numeric_limits<float>::infinity() ? 0.0f : std::exp(s[j] - shift);
    total += p[j];
  }
  return total;
}

}  // namespace

AttentionBlockOps attention_block_ops_avx2() { return {matmul_avx2, exp_shifted_avx2}; }

}  // namespace peftjs

PEFTJS_TARGET_END
