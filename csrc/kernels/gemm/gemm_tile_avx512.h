// The C tile of an AVX-512 micro-kernel (MR rows of two zmm, 32 columns), shared by the float32 and
// bfloat16 micro-kernels: writing the accumulators through the tile epilogue (C = alpha * acc + beta * C + bias; the full tile straight from registers, an edge tile
// through store_tile). Include it between PEFTJS_TARGET_BEGIN and END of an AVX-512 build (immintrin.h first).
#pragma once

#include "gemm_microkernel.h"

namespace peftjs {

template <int MR>
inline void store_acc_tile_avx512(__m512 (&acc)[MR][2], float* c, int64_t ldc, const TileEpilogue& ep, int rows,
                                  int cols) {
  constexpr int NR = 32;
  if (rows == MR && cols == NR) {
    const __m512 alpha = _mm512_set1_ps(ep.alpha);
    const __m512 beta = _mm512_set1_ps(ep.beta);
    const __m512 bias0 = ep.bias ? _mm512_loadu_ps(ep.bias) : _mm512_setzero_ps();
    const __m512 bias1 = ep.bias ? _mm512_loadu_ps(ep.bias + 16) : _mm512_setzero_ps();
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      float* crow = c + i * ldc;
      __m512 o0 = _mm512_fmadd_ps(alpha, acc[i][0], bias0);
      __m512 o1 = _mm512_fmadd_ps(alpha, acc[i][1], bias1);
      if (ep.beta != 0.0f) {
        o0 = _mm512_fmadd_ps(beta, _mm512_loadu_ps(crow), o0);
        o1 = _mm512_fmadd_ps(beta, _mm512_loadu_ps(crow + 16), o1);
      }
      _mm512_storeu_ps(crow, o0);
      _mm512_storeu_ps(crow + 16, o1);
    }
    return;
  }
  alignas(64) float tile[MR * NR];
  for (int i = 0; i < MR; ++i) {
    _mm512_store_ps(tile + i * NR, acc[i][0]);
    _mm512_store_ps(tile + i * NR + 16, acc[i][1]);
  }
  store_tile(tile, NR, c, ldc, ep, rows, cols);
}

}  // namespace peftjs
