// AVX2 + FMA micro-kernel: a 6 x 16 tile in 12 ymm accumulators, two B loads and one broadcast per k.
#include <immintrin.h>

#include "gemm_microkernel.h"
#include "simd_target.h"

PEFTJS_TARGET_BEGIN("avx2,fma")

namespace peftjs {
namespace {

constexpr int MR = 6;
constexpr int NR = 16;

void kernel(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, const TileEpilogue& ep,
            int rows, int cols) {
  // C is read or written only after kc steps; asking for it now hides its cache-miss latency. (Unrolling
  // the k loop was measured slower: GCC then rotates the accumulators through extra moves.)
  for (int i = 0; i < rows; ++i) {
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + cols - 1), _MM_HINT_T0);
  }
  __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
  __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
  __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
  __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
  __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
  __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
  for (int64_t p = 0; p < kc; ++p) {
    const __m256 b0 = _mm256_load_ps(b);
    const __m256 b1 = _mm256_load_ps(b + 8);
    __m256 ai = _mm256_broadcast_ss(a + 0);
    c00 = _mm256_fmadd_ps(ai, b0, c00);
    c01 = _mm256_fmadd_ps(ai, b1, c01);
    ai = _mm256_broadcast_ss(a + 1);
    c10 = _mm256_fmadd_ps(ai, b0, c10);
    c11 = _mm256_fmadd_ps(ai, b1, c11);
    ai = _mm256_broadcast_ss(a + 2);
    c20 = _mm256_fmadd_ps(ai, b0, c20);
    c21 = _mm256_fmadd_ps(ai, b1, c21);
    ai = _mm256_broadcast_ss(a + 3);
    c30 = _mm256_fmadd_ps(ai, b0, c30);
    c31 = _mm256_fmadd_ps(ai, b1, c31);
    ai = _mm256_broadcast_ss(a + 4);
    c40 = _mm256_fmadd_ps(ai, b0, c40);
    c41 = _mm256_fmadd_ps(ai, b1, c41);
    ai = _mm256_broadcast_ss(a + 5);
    c50 = _mm256_fmadd_ps(ai, b0, c50);
    c51 = _mm256_fmadd_ps(ai, b1, c51);
    a += MR;
    b += NR;
  }
  const __m256 acc[MR][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
  if (rows == MR && cols == NR) {
    const __m256 alpha = _mm256_set1_ps(ep.alpha);
    const __m256 beta = _mm256_set1_ps(ep.beta);
    const __m256 bias0 = ep.bias ? _mm256_loadu_ps(ep.bias) : _mm256_setzero_ps();
    const __m256 bias1 = ep.bias ? _mm256_loadu_ps(ep.bias + 8) : _mm256_setzero_ps();
    for (int i = 0; i < MR; ++i) {
      float* crow = c + i * ldc;
      __m256 o0 = _mm256_fmadd_ps(alpha, acc[i][0], bias0);
      __m256 o1 = _mm256_fmadd_ps(alpha, acc[i][1], bias1);
      if (ep.beta != 0.0f) {
        o0 = _mm256_fmadd_ps(beta, _mm256_loadu_ps(crow), o0);
        o1 = _mm256_fmadd_ps(beta, _mm256_loadu_ps(crow + 8), o1);
      }
      _mm256_storeu_ps(crow, o0);
      _mm256_storeu_ps(crow + 8, o1);
    }
    return;
  }
  alignas(32) float tile[MR * NR];
  for (int i = 0; i < MR; ++i) {
    _mm256_store_ps(tile + i * NR, acc[i][0]);
    _mm256_store_ps(tile + i * NR + 8, acc[i][1]);
  }
  store_tile(tile, NR, c, ldc, ep, rows, cols);
}

}  // namespace

const MicroKernelSpec& microkernel_avx2() {
  static const MicroKernelSpec spec{MR, NR, 384, 96, 3072, kernel, "avx2 6x16", pack_rows_avx2};
  return spec;
}

}  // namespace peftjs

PEFTJS_TARGET_END
