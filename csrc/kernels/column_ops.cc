#include "column_ops.h"

#include <algorithm>
#include <vector>

#include "../runtime/cpu_features.h"
#include "../runtime/scratch.h"
#include "../runtime/thread_pool.h"
#include "column_ops_rows.h"

namespace peftjs {
namespace {

// Splits the rows over the pool; each task sums its rows [r0, r1) into its own [cols] partial, then
// the partials are added column by column.
template <typename RowsFn>
void reduce_rows(int64_t rows, int64_t cols, float* out, RowsFn rows_fn) {
  const int64_t tasks = std::max<int64_t>(1, std::min<int64_t>(num_threads(), rows / 16));
  const int64_t per = (rows + tasks - 1) / tasks;
  Scratch partial(static_cast<size_t>(std::max<int64_t>(tasks - 1, 1) * std::max<int64_t>(cols, 1)));
  auto acc_of = [&](int64_t i) { return i == 0 ? out : partial.data() + (i - 1) * cols; };
  parallel_tasks(tasks, [&](int64_t i) {
    float* acc = acc_of(i);
    std::fill(acc, acc + cols, 0.0f);
    const int64_t r0 = std::min(rows, i * per), r1 = std::min(rows, (i + 1) * per);
    if (r0 < r1) rows_fn(r0, r1, acc);
  });
  for (int64_t i = 1; i < tasks; ++i) {
    const float* p = acc_of(i);
    for (int64_t c = 0; c < cols; ++c) out[c] += p[c];
  }
}

}  // namespace

void column_sums(const float* a, int64_t rows, int64_t cols, float* out) {
  const bool avx2 = active_cpu_path() != CpuPath::Scalar;
  reduce_rows(rows, cols, out, [&](int64_t r0, int64_t r1, float* acc) {
    if (avx2) return column_sums_rows_avx2(a + r0 * cols, r1 - r0, cols, acc);
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t c = 0; c < cols; ++c) acc[c] += a[r * cols + c];
  });
}

void column_dot(const float* a, const float* b, int64_t rows, int64_t cols, float* out) {
  const bool avx2 = active_cpu_path() != CpuPath::Scalar;
  reduce_rows(rows, cols, out, [&](int64_t r0, int64_t r1, float* acc) {
    if (avx2) return column_dot_rows_avx2(a + r0 * cols, b + r0 * cols, r1 - r0, cols, acc);
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t c = 0; c < cols; ++c) acc[c] += a[r * cols + c] * b[r * cols + c];
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
