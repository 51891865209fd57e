#include "embedding.h"

#include <algorithm>
#include <cstring>

#include "../../runtime/thread_pool.h"

namespace peftjs {

void embedding_forward(const int32_t* ids, int64_t n, int64_t dim, const float* table, float* out) {
  parallel_for(n, std::max<int64_t>(1, (1 << 14) / std::max<int64_t>(dim, 1)), [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) std::memcpy(out + i * dim, table + static_cast<int64_t>(ids[i]) * dim, dim * sizeof(float));
  });
}

// Threads split the columns, never the ids: two tokens with the same id then always land in the same
// thread, so no row is written by two threads and the sum order is i's for every thread count. Column
// blocks are multiples of 16 floats (64 bytes) so neighbouring threads never share a cache line of a row.
void embedding_backward(const int32_t* ids, int64_t n, int64_t dim, const float* dy, float* dtable) {
  constexpr int64_t kLine = 16;
  const int64_t blocks = (dim + kLine - 1) / kLine;
  // Enough work per task to be worth a thread: about 16K elements of dy.
  const int64_t grain = std::max<int64_t>(1, (1 << 14) / std::max<int64_t>(n * kLine, 1));
  parallel_for(blocks, grain, [&](int64_t b0, int64_t b1) {
    const int64_t c0 = b0 * kLine, c1 = std::min(dim, b1 * kLine);
    for (int64_t i = 0; i < n; ++i) {
      const float* src = dy + i * dim;
      float* dst = dtable + static_cast<int64_t>(ids[i]) * dim;
      for (int64_t c = c0; c < c1; ++c) dst[c] += src[c];
    }
  });
}

}  // namespace peftjs
