// AVX2 builds of the dequantization loops (dequantize.cc dispatches to them on the avx2 path): 8 values a
// step. NF4's 16 code values take two 8-wide permutes, the code's bit 3 choosing between them. Same
// arithmetic, in the same order, as the portable loops: the results are bit for bit the same.
#include <immintrin.h>

#include <cstring>

#include "dequantize_paths.h"
#include "../simd/target.h"

PEFTJS_TARGET_BEGIN("avx2,f16c")

namespace peftjs {

void dequantize_range_avx2(const QuantizedWeight& w, int64_t s, int64_t e, float* out) {
  int64_t i = s;
  switch (w.format) {
    case WeightFormat::Bf16:
      for (; i + 8 <= e; i += 8) {
        const __m128i bits = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w.data + 2 * i));
        _mm256_storeu_ps(out + i, _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(bits), 16)));
      }
      break;
    case WeightFormat::F16:
      for (; i + 8 <= e; i += 8)
        _mm256_storeu_ps(out + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w.data + 2 * i))));
      break;
    case WeightFormat::Int8: {
      const int8_t* q = reinterpret_cast<const int8_t*>(w.data);
      const __m256 k127 = _mm256_set1_ps(127.0f);
      return dequantize_by_groups(w, s, e, out, [&](int64_t i, int64_t end, int64_t group) {
        const __m256 scale = _mm256_set1_ps(w.absmax[group]);
        for (; i + 8 <= end; i += 8) {
          const __m256 v = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(q + i))));
          _mm256_storeu_ps(out + i, _mm256_div_ps(_mm256_mul_ps(v, scale), k127));
        }
        return i;
      });
    }
    case WeightFormat::Nf4: {
      const __m256 low_codes = _mm256_loadu_ps(kNf4Codes), high_codes = _mm256_loadu_ps(kNf4Codes + 8);
      // Lane j holds byte j / 2; even lanes take its high nibble, odd lanes its low one.
      const __m256i shifts = _mm256_set_epi32(0, 4, 0, 4, 0, 4, 0, 4);
      const __m256i low4 = _mm256_set1_epi32(0x0f);
      return dequantize_by_groups(w, s, e, out, [&](int64_t i, int64_t end, int64_t group) {
        const __m256 absmax = _mm256_set1_ps(nf4_block_absmax(w, group));
        for (; i + 8 <= end; i += 8) {
          int32_t four;
          std::memcpy(&four, w.data + (i >> 1), 4);
          const __m128i bytes = _mm_cvtsi32_si128(four);
          const __m256i lanes = _mm256_cvtepu8_epi32(_mm_unpacklo_epi8(bytes, bytes));
          const __m256i codes = _mm256_and_si256(_mm256_srlv_epi32(lanes, shifts), low4);
          // codes 0-7 from the low table, 8-15 from the high one (permutevar8x32 reads the low 3 bits).
          const __m256 high = _mm256_castsi256_ps(_mm256_slli_epi32(codes, 28));
          const __m256 value = _mm256_blendv_ps(_mm256_permutevar8x32_ps(low_codes, codes), _mm256_permutevar8x32_ps(high_codes, codes), high);
          _mm256_storeu_ps(out + i, _mm256_mul_ps(value, absmax));
        }
        return i;
      });
    }
  }
  dequantize_range_scalar(w, i, e, out);
}

}  // namespace peftjs

PEFTJS_TARGET_END
