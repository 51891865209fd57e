// The one parallel reduction over rows for kernels whose outputs are sums over rows (column sums, the
// norms' weight/bias gradients, LoRA's dB / dbias / dA^T): the rows are split into contiguous tasks, each
// task adds its rows into its own zeroed partials, and the partials are then added column by column in
// task order (deterministic for a given thread count). Task 0's partials are the outputs themselves.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>

#include "../../runtime/scratch.h"
#include "../../runtime/thread_pool.h"

namespace peftjs {

// One output of a reduction: `width` floats, overwritten with the sum; out null: not wanted.
struct PartialOut {
  float* out;
  int64_t width;
};

// Runs fn(r0, r1, parts) for the tasks' row ranges [r0, r1) of [0, rows), in at most num_threads() tasks
// of at least min_rows rows; parts[q] is the task's zeroed partial of outs[q] (null where outs[q].out is).
template <size_t N, class Fn>
void sum_row_partials(int64_t rows, int64_t min_rows, const std::array<PartialOut, N>& outs, Fn fn) {
  const int64_t tasks = std::max<int64_t>(1, std::min<int64_t>(num_threads(), rows / std::max<int64_t>(min_rows, 1)));
  const int64_t per = (rows + tasks - 1) / tasks;
  std::array<int64_t, N> offset{};
  int64_t stride = 0;
  for (size_t q = 0; q < N; ++q) {
    offset[q] = stride;
    if (outs[q].out != nullptr) stride += outs[q].width;
  }
  Scratch partial(static_cast<size_t>(std::max<int64_t>(1, (tasks - 1) * stride)));
  auto part = [&](int64_t i, size_t q) -> float* {
    if (outs[q].out == nullptr) return nullptr;
    return i == 0 ? outs[q].out : partial.data() + (i - 1) * stride + offset[q];
  };
  parallel_tasks(tasks, [&](int64_t i) {
    std::array<float*, N> parts;
    for (size_t q = 0; q < N; ++q) {
      parts[q] = part(i, q);
      if (parts[q] != nullptr) std::fill(parts[q], parts[q] + outs[q].width, 0.0f);
    }
    const int64_t r0 = std::min(rows, i * per), r1 = std::min(rows, r0 + per);
    if (r0 < r1) fn(r0, r1, parts.data());
  });
  if (tasks == 1) return;
  for (size_t q = 0; q < N; ++q) {
    if (outs[q].out == nullptr) continue;
    parallel_for(outs[q].width, 4096, [&](int64_t c0, int64_t c1) {
      float* out = outs[q].out;
      for (int64_t i = 1; i < tasks; ++i) {
        const float* p = part(i, q);
        for (int64_t c = c0; c < c1; ++c) out[c] += p[c];
      }
    });
  }
}

}  // namespace peftjs
