#include "optim.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "../runtime/thread_pool.h"

namespace peftjs {
namespace {

// Elementwise updates move 16-28 bytes per element: a chunk this size keeps a thread busy for ~10 us,
// long enough to pay for the wake-up, short enough to split a 100k-element parameter over both cores.
constexpr int64_t kGrain = 1 << 14;
// sum_squares partials: one double per chunk, summed in index order after the parallel pass.
constexpr int64_t kSumChunk = 1 << 14;

}  // namespace

void adamw_step(const AdamwArgs& a) {
  // Scalars as torch forms them: Python floats (double), rounded to float when the kernel takes them.
  const float decay = static_cast<float>(1.0 - a.lr * a.weight_decay);
  const float b1 = static_cast<float>(a.beta1), one_minus_b1 = static_cast<float>(1.0 - a.beta1);
  const float b2 = static_cast<float>(a.beta2), one_minus_b2 = static_cast<float>(1.0 - a.beta2);
  const double step = static_cast<double>(a.step);
  const float neg_step_size = static_cast<float>(-(a.lr / (1.0 - std::pow(a.beta1, step))));
  const float bc2_sqrt = static_cast<float>(std::sqrt(1.0 - std::pow(a.beta2, step)));
  const float eps = static_cast<float>(a.eps);
  float* __restrict p = a.param;
  const float* __restrict g = a.grad;
  float* __restrict m = a.m;
  float* __restrict v = a.v;
  parallel_for(a.n, kGrain, [&](int64_t s, int64_t e) {
    for (int64_t i = s; i < e; ++i) {
      const float gi = g[i];
      const float mi = m[i] * b1 + one_minus_b1 * gi;
      const float vi = v[i] * b2 + one_minus_b2 * gi * gi;
      const float denom = std::sqrt(vi) / bc2_sqrt + eps;
      p[i] = p[i] * decay + neg_step_size * (mi / denom);
      m[i] = mi;
      v[i] = vi;
    }
  });
}

void sgd_step(const SgdArgs& a) {
  const float wd = static_cast<float>(a.weight_decay);
  const float mom = static_cast<float>(a.momentum);
  const float one_minus_damp = static_cast<float>(1.0 - a.dampening);
  const float neg_lr = static_cast<float>(-a.lr);
  float* __restrict p = a.param;
  const float* __restrict g = a.grad;
  float* __restrict buf = a.momentum_buf;
  // Branches on the options are hoisted out of the loops so each loop stays a straight vectorizable line.
  parallel_for(a.n, kGrain, [&](int64_t s, int64_t e) {
    if (buf == nullptr) {
      for (int64_t i = s; i < e; ++i) p[i] = p[i] + neg_lr * (g[i] + wd * p[i]);
    } else if (a.first_step) {
      for (int64_t i = s; i < e; ++i) {
        const float d = g[i] + wd * p[i];
        buf[i] = d;
        p[i] = p[i] + neg_lr * (a.nesterov ? d + mom * d : d);
      }
    } else {
      for (int64_t i = s; i < e; ++i) {
        const float d = g[i] + wd * p[i];
        const float b = buf[i] * mom + one_minus_damp * d;
        buf[i] = b;
        p[i] = p[i] + neg_lr * (a.nesterov ? d + mom * b : b);
      }
    }
  });
}

double sum_squares(const float* x, int64_t n) {
  const int64_t chunks = (n + kSumChunk - 1) / kSumChunk;
  std::vector<double> partial(static_cast<size_t>(chunks), 0.0);
  parallel_for(chunks, 4, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      const int64_t s = c * kSumChunk, e = std::min(n, s + kSumChunk);
      // Eight independent accumulators: the adds need not wait on each other.
      double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      int64_t i = s;
      for (; i + 8 <= e; i += 8)
        for (int j = 0; j < 8; ++j) acc[j] += static_cast<double>(x[i + j]) * x[i + j];
      for (; i < e; ++i) acc[0] += static_cast<double>(x[i]) * x[i];
      partial[c] = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    }
  });
  double total = 0.0;
  for (double v : partial) total += v;
  return total;
}

}  // namespace peftjs
