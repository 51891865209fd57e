// One thread per block of rows. The forward reads x twice (statistics, then y) from cache: a row is
// at most a few KiB. The backward's weight/bias gradients are column sums: each task accumulates its own
// [cols] partials, added in task order afterwards (deterministic for a given thread count).
#include "norm.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "../../runtime/thread_pool.h"
#include "../reduce/partial_sums.h"
#include "../reduce/row_math.h"

namespace peftjs {
namespace {

int64_t rows_grain(int64_t cols) { return std::max<int64_t>(1, (1 << 14) / std::max<int64_t>(cols, 1)); }

// Runs row_fn(r, dw_partial, db_partial) over all rows, then writes the summed partials to dweight /
// dbias (either may be null: then row_fn gets null for it).
template <typename RowFn>
void rows_with_column_grads(int64_t rows, int64_t cols, float* dweight, float* dbias, RowFn row_fn) {
  sum_row_partials<2>(rows, 4, {{{dweight, cols}, {dbias, cols}}}, [&](int64_t r0, int64_t r1, float* const* parts) {
    for (int64_t r = r0; r < r1; ++r) row_fn(r, parts[0], parts[1]);
  });
}

// The weight, or ones when there is none: the inner loops then have no branch and vectorize.
const float* weight_or_ones(const float* w, int64_t cols, std::vector<float>& ones) {
  if (w != nullptr) return w;
  ones.assign(static_cast<size_t>(cols), 1.0f);
  return ones.data();
}

}  // namespace

void rms_norm_forward(const NormArgs& p, float* y, float* rstd) {
  const int64_t cols = p.cols;
  parallel_for(p.rows, rows_grain(cols), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* x = p.x + r * cols;
      float* out = y + r * cols;
      const float s = static_cast<float>(1.0 / std::sqrt(vdot(x, x, cols) / static_cast<double>(cols) + p.eps));
      rstd[r] = s;
      if (p.weight) for (int64_t j = 0; j < cols; ++j) out[j] = x[j] * s * p.weight[j];
      else for (int64_t j = 0; j < cols; ++j) out[j] = x[j] * s;
    }
  });
}

void rms_norm_backward(const NormArgs& p, const float* rstd, const float* dy, float* dx, float* dweight) {
  const int64_t cols = p.cols;
  std::vector<float> ones;
  const float* w = weight_or_ones(p.weight, cols, ones);
  rows_with_column_grads(p.rows, cols, dweight, nullptr, [&](int64_t r, float* dw, float*) {
    const float* x = p.x + r * cols;
    const float* g = dy + r * cols;
    float* out = dx + r * cols;
    const float s = rstd[r];
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};  // sum of dy * w * x, eight lanes (see row_math.h)
    int64_t j = 0;
    for (; j + 8 <= cols; j += 8)
      for (int k = 0; k < 8; ++k) acc[k] += g[j + k] * w[j + k] * x[j + k];
    double dot = 0.0;
    for (int k = 0; k < 8; ++k) dot += acc[k];
    for (; j < cols; ++j) dot += static_cast<double>(g[j]) * w[j] * x[j];
    // dx = s * g * w - x * s^3 * dot / cols
    const float coef = static_cast<float>(dot * s * s * s / static_cast<double>(cols));
    for (j = 0; j < cols; ++j) out[j] = s * g[j] * w[j] - x[j] * coef;
    if (dw) for (j = 0; j < cols; ++j) dw[j] += g[j] * x[j] * s;
  });
}

void layer_norm_forward(const NormArgs& p, const float* bias, float* y, float* mean, float* rstd) {
  const int64_t cols = p.cols;
  parallel_for(p.rows, rows_grain(cols), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* x = p.x + r * cols;
      float* out = y + r * cols;
      const float mu = cols == 0 ? 0.0f : static_cast<float>(vsum(x, cols) / static_cast<double>(cols));
      const float s = static_cast<float>(1.0 / std::sqrt(vsum_sq_centered(x, mu, cols) / static_cast<double>(cols) + p.eps));
      mean[r] = mu;
      rstd[r] = s;
      for (int64_t j = 0; j < cols; ++j)
        out[j] = (x[j] - mu) * s * (p.weight ? p.weight[j] : 1.0f) + (bias ? bias[j] : 0.0f);
    }
  });
}

void layer_norm_backward(const NormArgs& p, const float* mean, const float* rstd, const float* dy, float* dx,
                         float* dweight, float* dbias) {
  const int64_t cols = p.cols;
  std::vector<float> ones;
  const float* w = weight_or_ones(p.weight, cols, ones);
  rows_with_column_grads(p.rows, cols, dweight, dbias, [&](int64_t r, float* dw, float* db) {
    const float* x = p.x + r * cols;
    const float* g = dy + r * cols;
    float* out = dx + r * cols;
    const float mu = mean[r], s = rstd[r];
    float sg[8] = {0, 0, 0, 0, 0, 0, 0, 0}, sgx[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t j = 0;
    for (; j + 8 <= cols; j += 8)
      for (int k = 0; k < 8; ++k) {
        const float gw = g[j + k] * w[j + k];
        sg[k] += gw;
        sgx[k] += gw * (x[j + k] - mu);
      }
    double sum_g = 0.0, sum_gx = 0.0;
    for (int k = 0; k < 8; ++k) sum_g += sg[k], sum_gx += sgx[k];
    for (; j < cols; ++j) {
      const double gw = static_cast<double>(g[j]) * w[j];
      sum_g += gw;
      sum_gx += gw * (x[j] - mu);
    }
    const float mg = static_cast<float>(sum_g / static_cast<double>(cols));
    const float mgx = static_cast<float>(sum_gx * s / static_cast<double>(cols));  // mean(g * xhat)
    for (j = 0; j < cols; ++j) {
      const float xhat = (x[j] - mu) * s;
      out[j] = s * (g[j] * w[j] - mg - xhat * mgx);
    }
    if (dw) for (j = 0; j < cols; ++j) dw[j] += g[j] * (x[j] - mu) * s;
    if (db) for (j = 0; j < cols; ++j) db[j] += g[j];
  });
}

}  // namespace peftjs
