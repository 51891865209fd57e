#include "cross_entropy.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "../../runtime/thread_pool.h"
#include "../simd/dispatch.h"

namespace peftjs {
namespace {

int64_t rows_grain(int64_t vocab) { return std::max<int64_t>(1, (1 << 14) / std::max<int64_t>(vocab, 1)); }

}  // namespace

float row_lse_scalar(const float* x, int64_t n) {
  float m = -std::numeric_limits<float>::infinity();
  for (int64_t j = 0; j < n; ++j) m = std::max(m, x[j]);
  double s = 0.0;
  for (int64_t j = 0; j < n; ++j) s += std::exp(x[j] - m);
  return m + static_cast<float>(std::log(s));
}

void row_softmax_scaled_scalar(const float* x, int64_t n, float lse, float scale, float* out) {
  for (int64_t j = 0; j < n; ++j) out[j] = std::exp(x[j] - lse) * scale;
}

void cross_entropy_forward(const float* logits, const int32_t* targets, int64_t rows, int64_t vocab,
                           int32_t ignore_index, float* losses, float* lse) {
  const auto row_lse = for_cpu_path(row_lse_scalar, row_lse_avx2);
  parallel_for(rows, rows_grain(vocab), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* x = logits + r * vocab;
      lse[r] = row_lse(x, vocab);
      losses[r] = targets[r] == ignore_index ? 0.0f : lse[r] - x[targets[r]];
    }
  });
}

void cross_entropy_backward(const float* logits, const int32_t* targets, const float* lse, int64_t rows,
                            int64_t vocab, int32_t ignore_index, float grad_scale, float* dlogits) {
  const auto row_grad = for_cpu_path(row_softmax_scaled_scalar, row_softmax_scaled_avx2);
  parallel_for(rows, rows_grain(vocab), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      float* out = dlogits + r * vocab;
      const int32_t t = targets[r];
      if (t == ignore_index) {
        std::fill(out, out + vocab, 0.0f);
        continue;
      }
      row_grad(logits + r * vocab, vocab, lse[r], grad_scale, out);
      out[t] -= grad_scale;
    }
  });
}

}  // namespace peftjs
