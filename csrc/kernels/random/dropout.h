// Inverted dropout with the mask regenerated from a seed instead of stored: element i of a batch is kept
// when its stream uniform is >= p, and then scaled by 1 / (1 - p).
#pragma once

#include <cstdint>

#include "random.h"

namespace peftjs {

inline float dropout_factor(uint64_t seed, uint64_t index, float p, float keep_scale) {
  return bits_to_uniform(random_bits(seed, index)) >= p ? keep_scale : 0.0f;
}

// out[t, k] = x[t, k] * factor(seed, (row_offset + t) * cols + k). out may alias x.
void dropout_rows(const float* x, float* out, int64_t rows, int64_t cols, float p, uint64_t seed, int64_t row_offset);
// out[t, k] += v[t, k] * factor(...): the masked accumulate of the LoRA input gradient.
void dropout_accumulate(const float* v, float* out, int64_t rows, int64_t cols, float p, uint64_t seed,
                        int64_t row_offset);

}  // namespace peftjs
