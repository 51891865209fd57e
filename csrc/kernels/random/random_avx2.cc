// Philox4x32-10 for eight counters at once: the same bits as philox4x32 (random.cc), lane by lane.
// The 32 x 32 -> 64-bit products come from two _mm256_mul_epu32 (even lanes, then odd lanes shifted
// down), whose halves are blended back into the high and low words.
#include <immintrin.h>

#include <algorithm>

#include "random.h"
#include "../simd/target.h"

PEFTJS_TARGET_BEGIN("avx2,fma")

namespace peftjs {
namespace {

// hi:lo = a * m per 32-bit lane.
inline void mul_hi_lo(__m256i a, __m256i m, __m256i* hi, __m256i* lo) {
  const __m256i even = _mm256_mul_epu32(a, m);
  const __m256i odd = _mm256_mul_epu32(_mm256_srli_epi64(a, 32), m);
  *lo = _mm256_blend_epi32(even, _mm256_slli_epi64(odd, 32), 0xAA);
  *hi = _mm256_blend_epi32(_mm256_srli_epi64(even, 32), odd, 0xAA);
}

// The 32 words of counters [counter, counter + 8) (low words must not wrap), in stream order.
inline void philox8(uint64_t counter, uint64_t key, uint32_t* out) {
  __m256i c0 = _mm256_add_epi32(_mm256_set1_epi32(static_cast<int>(static_cast<uint32_t>(counter))),
                                _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  __m256i c1 = _mm256_set1_epi32(static_cast<int>(static_cast<uint32_t>(counter >> 32)));
  __m256i c2 = _mm256_setzero_si256(), c3 = _mm256_setzero_si256();
  uint32_t k0 = static_cast<uint32_t>(key), k1 = static_cast<uint32_t>(key >> 32);
  const __m256i m0 = _mm256_set1_epi32(static_cast<int>(0xD2511F53u));
  const __m256i m1 = _mm256_set1_epi32(static_cast<int>(0xCD9E8D57u));
  for (int round = 0; round < 10; ++round) {
    __m256i hi0, lo0, hi1, lo1;
    mul_hi_lo(c0, m0, &hi0, &lo0);
    mul_hi_lo(c2, m1, &hi1, &lo1);
    const __m256i n0 = _mm256_xor_si256(_mm256_xor_si256(hi1, c1), _mm256_set1_epi32(static_cast<int>(k0)));
    const __m256i n2 = _mm256_xor_si256(_mm256_xor_si256(hi0, c3), _mm256_set1_epi32(static_cast<int>(k1)));
    c0 = n0, c1 = lo1, c2 = n2, c3 = lo0;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  // Lane j holds counter j's four words in c0..c3: transpose to out[4 j + w].
  const __m256i t0 = _mm256_unpacklo_epi32(c0, c1), t1 = _mm256_unpackhi_epi32(c0, c1);
  const __m256i t2 = _mm256_unpacklo_epi32(c2, c3), t3 = _mm256_unpackhi_epi32(c2, c3);
  const __m256i u0 = _mm256_unpacklo_epi64(t0, t2), u1 = _mm256_unpackhi_epi64(t0, t2);
  const __m256i u2 = _mm256_unpacklo_epi64(t1, t3), u3 = _mm256_unpackhi_epi64(t1, t3);
  __m256i* dst = reinterpret_cast<__m256i*>(out);
  _mm256_storeu_si256(dst + 0, _mm256_permute2x128_si256(u0, u1, 0x20));
  _mm256_storeu_si256(dst + 1, _mm256_permute2x128_si256(u2, u3, 0x20));
  _mm256_storeu_si256(dst + 2, _mm256_permute2x128_si256(u0, u1, 0x31));
  _mm256_storeu_si256(dst + 3, _mm256_permute2x128_si256(u2, u3, 0x31));
}

}  // namespace

void random_bits_fill_avx2(uint64_t seed, uint64_t offset, int64_t n, uint32_t* out) {
  // The scalar fill (one block per four words) up to a counter boundary, then 32 words (eight counters)
  // at a time, and the scalar fill again for the rest.
  int64_t i = std::min<int64_t>(n, (4 - static_cast<int64_t>(offset & 3)) & 3);
  random_bits_fill_scalar(seed, offset, i, out);
  for (; i + 32 <= n; i += 32) {
    const uint64_t counter = (offset + i) >> 2;
    if (static_cast<uint32_t>(counter) > 0xFFFFFFFFu - 7u) break;  // the low word would wrap: scalar from here
    philox8(counter, seed, out + i);
  }
  random_bits_fill_scalar(seed, offset + i, n - i, out + i);
}

}  // namespace peftjs

PEFTJS_TARGET_END
