// AVX-512 builds of the dequantization loops (dequantize.cc dispatches to them on the avx512 path): 16
// values a step. NF4's 16 code values fill one zmm register, so a code becomes its value by one permute.
// Same arithmetic, in the same order, as the portable loops: the results are bit for bit the same.
// GCC 12 warns that the conversion intrinsics read an uninitialized value (its headers start them from
// _mm512_undefined_*; GCC bug 105593), a false positive.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include "dequantize_paths.h"
#include "../simd/target.h"

PEFTJS_TARGET_BEGIN("avx512f,avx512bw")

namespace peftjs {

void dequantize_range_avx512(const QuantizedWeight& w, int64_t s, int64_t e, float* out) {
  int64_t i = s;
  switch (w.format) {
    case WeightFormat::Bf16:
      for (; i + 16 <= e; i += 16) {
        const __m256i bits = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w.data + 2 * i));
        _mm512_storeu_ps(out + i, _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(bits), 16)));
      }
      break;
    case WeightFormat::F16:
      for (; i + 16 <= e; i += 16)
        _mm512_storeu_ps(out + i, _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w.data + 2 * i))));
      break;
    case WeightFormat::Int8: {
      const int8_t* q = reinterpret_cast<const int8_t*>(w.data);
      const __m512 k127 = _mm512_set1_ps(127.0f);
      return dequantize_by_groups(w, s, e, out, [&](int64_t i, int64_t end, int64_t group) {
        const __m512 scale = _mm512_set1_ps(w.absmax[group]);
        for (; i + 16 <= end; i += 16) {
          const __m512 v = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q + i))));
          _mm512_storeu_ps(out + i, _mm512_div_ps(_mm512_mul_ps(v, scale), k127));
        }
        return i;
      });
    }
    case WeightFormat::Nf4: {
      const __m512 table = _mm512_loadu_ps(kNf4Codes);
      // Lane j holds byte j / 2; even lanes take its high nibble, odd lanes its low one.
      const __m512i shifts = _mm512_set_epi32(0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4);
      const __m512i low4 = _mm512_set1_epi32(0x0f);
      return dequantize_by_groups(w, s, e, out, [&](int64_t i, int64_t end, int64_t group) {
        const __m512 absmax = _mm512_set1_ps(nf4_block_absmax(w, group));
        for (; i + 16 <= end; i += 16) {
          const __m128i bytes = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(w.data + (i >> 1)));
          const __m512i lanes = _mm512_cvtepu8_epi32(_mm_unpacklo_epi8(bytes, bytes));
          const __m512i codes = _mm512_and_si512(_mm512_srlv_epi32(lanes, shifts), low4);
          _mm512_storeu_ps(out + i, _mm512_mul_ps(_mm512_permutexvar_ps(codes, table), absmax));
        }
        return i;
      });
    }
  }
  dequantize_range_scalar(w, i, e, out);
}

}  // namespace peftjs

PEFTJS_TARGET_END
