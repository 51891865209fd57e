#include "diff_prune.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "../runtime/thread_pool.h"
#include "random.h"

namespace peftjs {
namespace {

struct Gate {
  float z, dz;
};

inline float sigmoid(float v) { return 1.0f / (1.0f + std::exp(-v)); }

// The stream's uint32 for element `index`, drawing each Philox block once for its four elements.
class GateBits {
 public:
  explicit GateBits(uint64_t seed) : seed_(seed) {}
  uint32_t at(uint64_t index) {
    if ((index >> 2) != block_id_) {
      block_id_ = index >> 2;
      block_ = philox4x32(block_id_, seed_);
    }
    return block_.v[index & 3];
  }

 private:
  uint64_t seed_;
  uint64_t block_id_ = ~uint64_t{0};
  Philox4 block_{};
};

inline Gate gate_value(float log_alpha, bool training, uint32_t bits, const GateParams& g) {
  float s, ds;
  if (training) {
    // u in (0, 1): the 24-bit uniform moved half a step off zero, as the reference does.
    // log u - log(1 - u) = log(u / (1 - u)): one logarithm instead of two.
    const float u = (static_cast<float>(bits >> 8) + 0.5f) * (1.0f / 16777216.0f);
    s = sigmoid((std::log(u / (1.0f - u)) + log_alpha) / g.beta);
    ds = s * (1.0f - s) / g.beta;
  } else {
    s = sigmoid(log_alpha);
    ds = s * (1.0f - s);
  }
  const float raw = s * (g.zeta - g.gamma) + g.gamma;
  if (raw <= 0.0f) return {0.0f, 0.0f};
  if (raw >= 1.0f) return {1.0f, 0.0f};
  return {raw, (g.zeta - g.gamma) * ds};
}

inline float penalty_shift(const GateParams& g) { return g.beta * std::log(-g.gamma / g.zeta); }

}  // namespace

double diff_prune_forward(const DiffPruneArgs& p, const float* w, float* w_out, float* z_out) {
  const float shift = penalty_shift(p.gate);
  if (p.structured) {
    const Gate gt = gate_value(p.log_alpha[0], p.training, random_bits(p.seed, 0), p.gate);
    parallel_for(p.n, 1 << 15, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        w_out[i] = w[i] + gt.z * p.delta[i];
        if (z_out) z_out[i] = gt.z;
      }
    });
    return sigmoid(p.log_alpha[0] - shift);
  }
  const int threads = num_threads();
  std::vector<double> penalty(threads, 0.0);
  const int64_t per = (p.n + threads - 1) / threads;
  parallel_tasks(p.n < (1 << 14) ? 1 : threads, [&](int64_t task) {
    const int64_t i0 = p.n < (1 << 14) ? 0 : task * per;
    const int64_t i1 = p.n < (1 << 14) ? p.n : std::min(p.n, i0 + per);
    double acc = 0.0;
    GateBits bits(p.seed);
    for (int64_t i = i0; i < i1; ++i) {
      const Gate gt = gate_value(p.log_alpha[i], p.training, p.training ? bits.at(i) : 0, p.gate);
      w_out[i] = w[i] + gt.z * p.delta[i];
      if (z_out) z_out[i] = gt.z;
      acc += sigmoid(p.log_alpha[i] - shift);
    }
    penalty[task] = acc;
  });
  double total = 0.0;
  for (double v : penalty) total += v;
  return total;
}

void diff_prune_backward(const DiffPruneArgs& p, const float* dw, float lambda, float* d_delta, float* d_log_alpha) {
  const float shift = penalty_shift(p.gate);
  if (p.structured) {
    const Gate gt = gate_value(p.log_alpha[0], p.training, random_bits(p.seed, 0), p.gate);
    const int threads = num_threads();
    std::vector<double> dsum(threads, 0.0);
    const int64_t per = (p.n + threads - 1) / threads;
    parallel_tasks(threads, [&](int64_t task) {
      double acc = 0.0;
      for (int64_t i = task * per; i < std::min(p.n, (task + 1) * per); ++i) {
        d_delta[i] = dw[i] * gt.z;
        acc += static_cast<double>(dw[i]) * p.delta[i];
      }
      dsum[task] = acc;
    });
    double total = 0.0;
    for (double v : dsum) total += v;
    const float s = sigmoid(p.log_alpha[0] - shift);
    d_log_alpha[0] = static_cast<float>(total * gt.dz) + lambda * s * (1.0f - s);
    return;
  }
  parallel_for(p.n, 1 << 14, [&](int64_t i0, int64_t i1) {
    GateBits bits(p.seed);
    for (int64_t i = i0; i < i1; ++i) {
      const Gate gt = gate_value(p.log_alpha[i], p.training, p.training ? bits.at(i) : 0, p.gate);
      const float s = sigmoid(p.log_alpha[i] - shift);
      d_delta[i] = dw[i] * gt.z;
      d_log_alpha[i] = dw[i] * p.delta[i] * gt.dz + lambda * s * (1.0f - s);
    }
  });
}

float project_top_k(float* v, int64_t n, int64_t keep) {
  if (keep >= n) return 0.0f;
  if (keep <= 0) {
    std::fill(v, v + n, 0.0f);
    return INFINITY;
  }
  std::vector<float> mag(n);
  for (int64_t i = 0; i < n; ++i) mag[i] = std::fabs(v[i]);
  std::nth_element(mag.begin(), mag.begin() + (keep - 1), mag.end(), std::greater<float>());
  const float threshold = mag[keep - 1];
  int64_t above = 0;
  for (int64_t i = 0; i < n; ++i) above += std::fabs(v[i]) > threshold;
  int64_t ties_left = keep - above;  // entries equal to the threshold that still fit, first by index
  for (int64_t i = 0; i < n; ++i) {
    const float m = std::fabs(v[i]);
    if (m > threshold) continue;
    if (m == threshold && ties_left > 0) {
      --ties_left;
      continue;
    }
    v[i] = 0.0f;
  }
  return threshold;
}

}  // namespace peftjs
