#include "grad_ops.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "../../runtime/scratch.h"
#include "../../runtime/thread_pool.h"
#include "activations.h"
#include "../reduce/column_ops.h"
#include "../reduce/row_math.h"
#include "../simd/dispatch.h"

namespace peftjs {
namespace {

constexpr int64_t kGrain = 1 << 14;

template <typename F>
void grad_loop(const float* x, const float* dy, float* dx, int64_t n, F fprime) {
  parallel_for(n, kGrain, [&](int64_t s, int64_t e) {
    for (int64_t i = s; i < e; ++i) dx[i] = dy[i] * fprime(x[i]);
  });
}

}  // namespace

void unary_backward(UnaryOp op, const float* x, const float* dy, float* dx, int64_t n) {
  if (cpu_path_has(CpuPath::Avx2) && has_activation_avx2(op)) {
    parallel_for(n, kGrain, [&](int64_t s, int64_t e) { activation_backward_avx2(op, x + s, dy + s, dx + s, e - s); });
    return;
  }
  // The portable path: the table's df (unary_ops.h) one element at a time.
  with_unary_op(op, [&](auto tag) { grad_loop(x, dy, dx, n, [](float v) { return UnaryMath<decltype(tag)::value>::df(v); }); });
}

void softmax_backward(const float* y, const float* dy, float* dx, int64_t rows, int64_t cols) {
  parallel_for(rows, std::max<int64_t>(1, kGrain / std::max<int64_t>(cols, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* yr = y + r * cols;
      const float* gr = dy + r * cols;
      float* out = dx + r * cols;
      const float dot = static_cast<float>(vdot(gr, yr, cols));
      for (int64_t j = 0; j < cols; ++j) out[j] = yr[j] * (gr[j] - dot);
    }
  });
}

void column_sum(const float* a, float* out, int64_t rows, int64_t cols, float beta) {
  if (cols == 0) return;
  if (beta == 0.0f) return column_sums(a, rows, cols, out);
  Scratch sums(static_cast<size_t>(cols));
  column_sums(a, rows, cols, sums.data());
  for (int64_t c = 0; c < cols; ++c) out[c] = beta * out[c] + sums.data()[c];
}


}  // namespace peftjs
