#include "column_ops.h"

#include <algorithm>
#include <vector>

#include "../../runtime/thread_pool.h"
#include "column_ops_rows.h"
#include "partial_sums.h"
#include "../simd/dispatch.h"

namespace peftjs {

void column_sums_rows_scalar(const float* a, int64_t rows, int64_t cols, float* acc) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) acc[c] += a[r * cols + c];
}

void column_dot_rows_scalar(const float* a, const float* b, int64_t rows, int64_t cols, float* acc) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) acc[c] += a[r * cols + c] * b[r * cols + c];
}

// Tasks of at least this many rows: each task's [cols] partial costs a pass to add.
constexpr int64_t kMinRows = 16;

void column_sums(const float* a, int64_t rows, int64_t cols, float* out) {
  const auto rows_fn = for_cpu_path(column_sums_rows_scalar, column_sums_rows_avx2);
  sum_row_partials<1>(rows, kMinRows, {{{out, cols}}}, [&](int64_t r0, int64_t r1, float* const* acc) {
    rows_fn(a + r0 * cols, r1 - r0, cols, acc[0]);
  });
}

void column_dot(const float* a, const float* b, int64_t rows, int64_t cols, float* out) {
  const auto rows_fn = for_cpu_path(column_dot_rows_scalar, column_dot_rows_avx2);
  sum_row_partials<1>(rows, kMinRows, {{{out, cols}}}, [&](int64_t r0, int64_t r1, float* const* acc) {
    rows_fn(a + r0 * cols, b + r0 * cols, r1 - r0, cols, acc[0]);
  });
}

void scale_columns(const float* a, const float* v, int64_t rows, int64_t cols, float* out) {
  parallel_for(rows, std::max<int64_t>(1, (1 << 14) / std::max<int64_t>(cols, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* ra = a + r * cols;
      float* ro = out + r * cols;
      for (int64_t c = 0; c < cols; ++c) ro[c] = ra[c] * v[c];
    }
  });
}

}  // namespace peftjs
