// AVX-512 micro-kernel: a 12 x 32 tile in 24 zmm accumulators, two B loads and one broadcast per k.
#include <immintrin.h>

#include "gemm_microkernel.h"
#include "../simd/target.h"

PEFTJS_TARGET_BEGIN("avx512f,avx512dq,avx512bw,avx512vl,avx2,fma")

#include "gemm_tile_avx512.h"

namespace peftjs {
namespace {

constexpr int MR = 12;
constexpr int NR = 32;

void kernel(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, const TileEpilogue& ep,
            int rows, int cols) {
  prefetch_c_tile(c, ldc, rows, cols);
  __m512 acc[MR][2];
#pragma GCC unroll 12
  for (int i = 0; i < MR; ++i) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
  for (int64_t p = 0; p < kc; ++p) {
    const __m512 b0 = _mm512_load_ps(b);
    const __m512 b1 = _mm512_load_ps(b + 16);
#pragma GCC unroll 12
    for (int i = 0; i < MR; ++i) {
      const __m512 ai = _mm512_set1_ps(a[i]);
      acc[i][0] = _mm512_fmadd_ps(ai, b0, acc[i][0]);
      acc[i][1] = _mm512_fmadd_ps(ai, b1, acc[i][1]);
    }
    a += MR;
    b += NR;
  }
  store_acc_tile_avx512<MR>(acc, c, ldc, ep, rows, cols);
}

}  // namespace

const MicroKernelSpec& microkernel_avx512() {
  // Every AVX-512 CPU has AVX2, whose 8x8-transpose packing serves the 12- and 32-wide panels too.
  // Blocks measured on Zen 5 (48 KB L1, 1 MB L2), in-process against the earlier kc 192 / mc 144: a deep
  // kc (768: one pass over C for K = 768) with both micro-panels streaming from L2 beat keeping the B
  // micro-panel in L1, by 30-40% at the bench shapes (245 -> 325 GFLOP/s at 2048 x 768 x 768), and
  // small row blocks (two MR panels) did best at 1024 x 4096 x 4096.
  static const MicroKernelSpec spec{MR, NR, 768, 24, 3072, kernel, "avx512 12x32", pack_rows_avx2};
  return spec;
}

}  // namespace peftjs

PEFTJS_TARGET_END
