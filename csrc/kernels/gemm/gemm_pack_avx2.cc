// The transposing pack (see PackRows in gemm_microkernel.h) with 8x8 register transposes: eight rows
// times eight k values are loaded as rows and stored as eight k-slices, instead of one float at a time.
#include <immintrin.h>

#include "gemm_microkernel.h"
#include "../simd/avx2.h"
#include "../simd/target.h"

PEFTJS_TARGET_BEGIN("avx2,fma")

namespace peftjs {
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
      simd::transpose8x8(v);
      for (int p = 0; p < 8; ++p) _mm256_storeu_ps(dst + (p0 + p) * w + r0, v[p]);
    }
    for (int64_t p = kc8; p < kc; ++p)
      for (int r = r0; r < r0 + slots; ++r) dst[p * w + r] = r < rows ? src[r * ld + p] : 0.0f;
  }
}

}  // namespace peftjs

PEFTJS_TARGET_END
