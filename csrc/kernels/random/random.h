// Counter-based random numbers: Philox4x32-10 keyed by a 64-bit seed, element i of a stream drawn from
// counter (offset + i) / 4, lane (offset + i) % 4. Any slice of a stream can be regenerated without the
// rest, and the TypeScript reference computes the same bits.
#pragma once

#include <cstdint>

namespace peftjs {

struct Philox4 {
  uint32_t v[4];
};
Philox4 philox4x32(uint64_t counter, uint64_t key);

// The uint32 for element `index` of stream `seed`.
uint32_t random_bits(uint64_t seed, uint64_t index);
// out[i] = random_bits(seed, offset + i) for i in [0, n): eight Philox blocks at a time on AVX2.
void random_bits_fill(uint64_t seed, uint64_t offset, int64_t n, uint32_t* out);
void random_bits_fill_scalar(uint64_t seed, uint64_t offset, int64_t n, uint32_t* out);  // one block per 4 words
void random_bits_fill_avx2(uint64_t seed, uint64_t offset, int64_t n, uint32_t* out);
// uniform in [0, 1): the top 24 bits of the element's word.
inline float bits_to_uniform(uint32_t x) { return static_cast<float>(x >> 8) * (1.0f / 16777216.0f); }

// out[i] = low + (high - low) * U(offset + i)
void random_uniform(float* out, int64_t n, uint64_t seed, uint64_t offset, float low, float high);
// out[i] = mean + std * N(offset + i), Box-Muller over lane pairs (0,1) and (2,3), computed in double.
void random_normal(float* out, int64_t n, uint64_t seed, uint64_t offset, float mean, float std);

}  // namespace peftjs
