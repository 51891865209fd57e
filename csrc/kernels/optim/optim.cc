#include "optim.h"
#include "optim_math.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "../../runtime/thread_pool.h"

namespace peftjs {
namespace {

// Elementwise updates move 16-28 bytes per element: a chunk this size keeps a thread busy for ~10 us,
// long enough to pay for the wake-up, short enough to split a 100k-element parameter over both cores.
constexpr int64_t kGrain = 1 << 14;
// sum_squares partials: one double per chunk, summed in index order after the parallel pass.
constexpr int64_t kSumChunk = 1 << 14;

// The loops take restrict pointers and their scalars by value: captured by reference in the lambda, the
// scalars would be reloaded after every store (they might alias the arrays) and the loop would not vectorize.
void adamw_range(float* __restrict p, const float* __restrict g, float* __restrict m, float* __restrict v, int64_t s,
                 int64_t e, const AdamwScalars k) {
  for (int64_t i = s; i < e; ++i) adamw_element(p[i], g[i], m[i], v[i], k);
}

void sgd_plain_range(float* __restrict p, const float* __restrict g, int64_t s, int64_t e, const SgdScalars k) {
  for (int64_t i = s; i < e; ++i) sgd_plain_element(p[i], g[i], k);
}

template <bool kFirst, bool kNesterov>
void sgd_momentum_range(float* __restrict p, const float* __restrict g, float* __restrict buf, int64_t s, int64_t e,
                        const SgdScalars k) {
  for (int64_t i = s; i < e; ++i) sgd_momentum_element<kFirst, kNesterov>(p[i], g[i], buf[i], k);
}

// Eight independent accumulators: the adds need not wait on each other (and pair into SIMD registers).
double sum_squares_range(const float* __restrict x, int64_t s, int64_t e) {
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = s;
  for (; i + 8 <= e; i += 8)
    for (int j = 0; j < 8; ++j) acc[j] += static_cast<double>(x[i + j]) * x[i + j];
  for (; i < e; ++i) acc[0] += static_cast<double>(x[i]) * x[i];
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

}  // namespace

void adamw_step(const AdamwArgs& a) {
  const AdamwScalars k = adamw_scalars(a);
  parallel_for(a.n, kGrain, [&](int64_t s, int64_t e) { adamw_range(a.param, a.grad, a.m, a.v, s, e, k); });
}

void sgd_step(const SgdArgs& a) {
  const SgdScalars k = sgd_scalars(a);
  float* buf = a.momentum_buf;
  parallel_for(a.n, kGrain, [&](int64_t s, int64_t e) {
    if (buf == nullptr) sgd_plain_range(a.param, a.grad, s, e, k);
    else if (a.first_step && a.nesterov) sgd_momentum_range<true, true>(a.param, a.grad, buf, s, e, k);
    else if (a.first_step) sgd_momentum_range<true, false>(a.param, a.grad, buf, s, e, k);
    else if (a.nesterov) sgd_momentum_range<false, true>(a.param, a.grad, buf, s, e, k);
    else sgd_momentum_range<false, false>(a.param, a.grad, buf, s, e, k);
  });
}

double sum_squares(const float* x, int64_t n) {
  const int64_t chunks = (n + kSumChunk - 1) / kSumChunk;
  std::vector<double> partial(static_cast<size_t>(chunks), 0.0);
  parallel_for(chunks, 4, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) partial[c] = sum_squares_range(x, c * kSumChunk, std::min(n, (c + 1) * kSumChunk));
  });
  double total = 0.0;
  for (double v : partial) total += v;
  return total;
}

}  // namespace peftjs
