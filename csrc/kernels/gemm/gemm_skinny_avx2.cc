// AVX2 kernel for the skinny GEMM (see gemm_skinny.h).
#include <immintrin.h>

#include <algorithm>

#include "../../runtime/thread_pool.h"
#include "gemm_skinny.h"
#include "../simd/avx2.h"
#include "../simd/dispatch.h"
#include "../simd/target.h"

PEFTJS_TARGET_BEGIN("avx2,fma")

namespace peftjs {
namespace {

inline float finish(const GemmArgs& g, float acc, int64_t i, int64_t j) {
  float v = g.alpha * acc + (g.bias ? g.bias[j] : 0.0f);
  if (g.beta != 0.0f) v += g.beta * g.c[i * g.ldc + j];
  return v;
}

// NT: two rows of A against four rows of B at a time, as dot products along k (both contiguous).
// Eight accumulators, six loads per eight FMAs. Missing rows repeat a real one and are not stored.
void nt_rows(const GemmArgs& g, int64_t i0, int64_t i1) {
  const int64_t k8 = g.k / 8 * 8;
  const __m256i tail = simd::lane_mask8(g.k - k8);
  for (int64_t i = i0; i < i1; i += 2) {
    const int rows = i + 1 < i1 ? 2 : 1;
    const float* a0 = g.a + i * g.lda;
    const float* a1 = g.a + (i + rows - 1) * g.lda;
    for (int64_t j = 0; j < g.n; j += 4) {
      const int cols = static_cast<int>(std::min<int64_t>(4, g.n - j));
      const float* b[4];
      for (int q = 0; q < 4; ++q) b[q] = g.b + (j + std::min(q, cols - 1)) * g.ldb;
      __m256 acc[2][4];
      for (auto& r : acc)
        for (auto& v : r) v = _mm256_setzero_ps();
      for (int64_t p = 0; p < g.k; p += 8) {
        const bool part = p == k8;
        const __m256 x0 = part ? _mm256_maskload_ps(a0 + p, tail) : _mm256_loadu_ps(a0 + p);
        const __m256 x1 = part ? _mm256_maskload_ps(a1 + p, tail) : _mm256_loadu_ps(a1 + p);
        for (int q = 0; q < 4; ++q) {
          const __m256 y = part ? _mm256_maskload_ps(b[q] + p, tail) : _mm256_loadu_ps(b[q] + p);
          acc[0][q] = _mm256_fmadd_ps(x0, y, acc[0][q]);
          acc[1][q] = _mm256_fmadd_ps(x1, y, acc[1][q]);
        }
      }
      for (int r = 0; r < rows; ++r)
        for (int q = 0; q < cols; ++q) {
          const float v = finish(g, simd::hsum8(acc[r][q]), i + r, j + q);
          g.c[(i + r) * g.ldc + j + q] = v;
        }
    }
  }
}

}  // namespace

bool gemm_skinny(const GemmArgs& g) {
  if (!cpu_path_has(CpuPath::Avx2)) return false;
  if (g.k2 > 0 || g.col_scale != nullptr || g.act != Activation::None || g.pre_out != nullptr || g.k == 0) return false;
  if (!g.trans_a && g.trans_b && g.n <= kSkinnyMax) {
    // Rows in pairs; a grain of rows that keeps each task's work well above the pool's overhead.
    parallel_for((g.m + 1) / 2, std::max<int64_t>(1, 4096 / (g.k * g.n) + 1), [&](int64_t r0, int64_t r1) {
      nt_rows(g, 2 * r0, std::min(g.m, 2 * r1));
    });
    return true;
  }
  return false;
}

}  // namespace peftjs

PEFTJS_TARGET_END
