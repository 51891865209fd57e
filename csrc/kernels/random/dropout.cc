#include "dropout.h"

#include <algorithm>

#include "../../runtime/thread_pool.h"

namespace peftjs {

namespace {
template <typename F>
void masked_rows(int64_t rows, int64_t cols, float p, uint64_t seed, int64_t row_offset, F f) {
  const float keep_scale = 1.0f / (1.0f - p);
  parallel_for(rows, std::max<int64_t>(1, (1 << 14) / std::max<int64_t>(cols, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t t = r0; t < r1; ++t) {
      const uint64_t base = static_cast<uint64_t>(row_offset + t) * cols;
      // One Philox block gives four lanes: draw it once per four elements.
      Philox4 block{};
      uint64_t block_id = ~uint64_t{0};
      for (int64_t k = 0; k < cols; ++k) {
        const uint64_t index = base + k;
        if ((index >> 2) != block_id) {
          block_id = index >> 2;
          block = philox4x32(block_id, seed);
        }
        f(t * cols + k, bits_to_uniform(block.v[index & 3]) >= p ? keep_scale : 0.0f);
      }
    }
  });
}
}  // namespace

void dropout_rows(const float* x, float* out, int64_t rows, int64_t cols, float p, uint64_t seed, int64_t row_offset) {
  masked_rows(rows, cols, p, seed, row_offset, [&](int64_t i, float f) { out[i] = x[i] * f; });
}

void dropout_accumulate(const float* v, float* out, int64_t rows, int64_t cols, float p, uint64_t seed,
                        int64_t row_offset) {
  masked_rows(rows, cols, p, seed, row_offset, [&](int64_t i, float f) { out[i] += v[i] * f; });
}

}  // namespace peftjs
