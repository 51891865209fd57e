#include "reduce.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "../../runtime/thread_pool.h"

namespace peftjs {
namespace {

int64_t rows_grain(int64_t cols) { return std::max<int64_t>(1, (1 << 15) / std::max<int64_t>(cols, 1)); }

// Sums in double: the rows can be long (vocabulary-sized) and the oracle is exact.
double row_sum(const float* x, int64_t cols) {
  double s = 0.0;
  for (int64_t j = 0; j < cols; ++j) s += x[j];
  return s;
}

float row_max(const float* x, int64_t cols) {
  float m = -std::numeric_limits<float>::infinity();
  for (int64_t j = 0; j < cols; ++j) m = (x[j] > m || std::isnan(x[j])) ? x[j] : m;
  return m;
}

}  // namespace

void row_reduce(ReduceOp op, const float* a, float* out, int64_t rows, int64_t cols) {
  parallel_for(rows, rows_grain(cols), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* x = a + r * cols;
      switch (op) {
        case ReduceOp::Sum: out[r] = static_cast<float>(row_sum(x, cols)); break;
        case ReduceOp::Mean: out[r] = cols == 0 ? 0.0f : static_cast<float>(row_sum(x, cols) / cols); break;
        case ReduceOp::Max: out[r] = row_max(x, cols); break;
      }
    }
  });
}

void softmax_rows(const float* a, float* out, int64_t rows, int64_t cols) {
  parallel_for(rows, rows_grain(cols), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* x = a + r * cols;
      float* y = out + r * cols;
      const float m = row_max(x, cols);
      double s = 0.0;
      for (int64_t j = 0; j < cols; ++j) {
        y[j] = std::exp(x[j] - m);
        s += y[j];
      }
      const float inv = static_cast<float>(1.0 / s);
      for (int64_t j = 0; j < cols; ++j) y[j] *= inv;
    }
  });
}

}  // namespace peftjs
