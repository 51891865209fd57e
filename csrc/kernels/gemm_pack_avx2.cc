// The transposing pack (see PackRows in gemm_microkernel.h) with 8x8 register transposes: eight rows
// times eight k values are loaded as rows and stored as eight k-slices, instead of one float at a time.
#include <immintrin.h>

#include "gemm_microkernel.h"
#include "simd_target.h"

PEFTJS_TARGET_BEGIN("avx2,fma")

namespace peftjs {
namespace {

// In: r[i] holds row i (8 k values). Out: r[p] holds k value p of rows 0..7.
inline void transpose8x8(__m256 r[8]) {
  const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
  const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
  const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
  const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
  const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
  const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  r[0] = _mm256_permute2f128_ps(u0, u4, 0x20);
  r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
  r[2] = _mm256_permute2f128_ps(u2, u6, 0x20);
  r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
  r[4] = _mm256_permute2f128_ps(u0, u4, 0x31);
  r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
  r[6] = _mm256_permute2f128_ps(u2, u6, 0x31);
  r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

}  // namespace

void pack_rows_avx2(const float* src, int64_t ld, int rows, int64_t kc, int w, float* dst) {
  const int64_t kc8 = kc / 8 * 8;
  for (int r0 = 0; r0 < w; r0 += 8) {
    const int slots = w - r0 < 8 ? w - r0 : 8;  // panel columns this group of rows fills
    // A partial group is stored with full 8-wide stores, spilling into the next k slice, which the next
    // store rewrites; that is only safe when this group is the whole panel width (w < 8).
    if (slots < 8 && w > 8) {
      for (int r = r0; r < w; ++r)
        for (int64_t p = 0; p < kc; ++p) dst[p * w + r] = r < rows ? src[r * ld + p] : 0.0f;
      continue;
    }
    for (int64_t p0 = 0; p0 < kc8; p0 += 8) {
      __m256 v[8];
      for (int i = 0; i < 8; ++i)
        v[i] = r0 + i < rows ? _mm256_loadu_ps(src + (r0 + i) * ld + p0) : _mm256_setzero_ps();
      transpose8x8(v);
      for (int p = 0; p < 8; ++p) _mm256_storeu_ps(dst + (p0 + p) * w + r0, v[p]);
    }
    for (int64_t p = kc8; p < kc; ++p)
      for (int r = r0; r < r0 + slots; ++r) dst[p * w + r] = r < rows ? src[r * ld + p] : 0.0f;
  }
}

}  // namespace peftjs

PEFTJS_TARGET_END
