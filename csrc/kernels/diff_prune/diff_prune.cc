#include "diff_prune.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "../../runtime/thread_pool.h"
#include "diff_prune_gates.h"
#include "../random/random.h"
#include "../simd/dispatch.h"

namespace peftjs {
namespace {

struct Gate {
  float z, dz;
};

inline float sigmoid(float v) { return 1.0f / (1.0f + std::exp(-v)); }

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

constexpr int64_t kChunk = 1024;  // gates per call: the random words (and the gate arrays) stay in L1

// Past this many parameters (16 MiB per tensor) outputs are streamed past the cache: they would not fit
// in it beside the inputs anyway. Below, they stay in cache for the GEMM that reads W' next.
constexpr int64_t kStreamMin = int64_t{1} << 22;

GateBlockFn active_gate_block() {
  return for_cpu_path(gate_block_scalar, gate_block_avx2);
}

// Runs body(c, i0, len, bits) for the chunks c of [0, n) across the pool, with each chunk's random words
// (zeros in eval mode, where gates draw nothing).
template <typename Body>
void for_chunks(const DiffPruneArgs& p, Body body) {
  const int64_t chunks = (p.n + kChunk - 1) / kChunk;
  parallel_for(chunks, 16, [&](int64_t c0, int64_t c1) {
    uint32_t bits[kChunk] = {};
    for (int64_t c = c0; c < c1; ++c) {
      const int64_t i0 = c * kChunk, len = std::min(kChunk, p.n - i0);
      if (p.training) random_bits_fill(p.seed, i0, len, bits);
      body(c, i0, len, bits);
    }
  });
}

}  // namespace

void gate_block_scalar(const float* log_alpha, const uint32_t* bits, int64_t n, bool training, const GateParams& g,
                       float shift, float* z, float* dz, float* penalty_term) {
  for (int64_t i = 0; i < n; ++i) {
    const Gate gt = gate_value(log_alpha[i], training, training ? bits[i] : 0, g);
    z[i] = gt.z;
    dz[i] = gt.dz;
    penalty_term[i] = sigmoid(log_alpha[i] - shift);
  }
}

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
  const GateForwardFn block = for_cpu_path(gate_forward_scalar, gate_forward_avx2);
  const bool stream = p.n >= kStreamMin;
  const int64_t chunks = (p.n + kChunk - 1) / kChunk;
  std::vector<double> penalty(chunks, 0.0);  // per chunk, summed in order: the same total for any thread count
  for_chunks(p, [&](int64_t c, int64_t i0, int64_t len, const uint32_t* bits) {
    const GateForwardBlock b{w + i0, p.delta + i0, p.log_alpha + i0, bits, w_out + i0, z_out ? z_out + i0 : nullptr};
    penalty[c] = block(b, len, p.training, p.gate, shift, stream);
  });
  double total = 0.0;
  for (double v : penalty) total += v;
  return total;
}

double gate_forward_scalar(const GateForwardBlock& b, int64_t n, bool training, const GateParams& g, float shift, bool) {
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (int64_t i = 0; i < n; ++i) {
    const Gate gt = gate_value(b.log_alpha[i], training, training ? b.bits[i] : 0, g);
    b.w_out[i] = b.w[i] + gt.z * b.delta[i];
    if (b.z_out) b.z_out[i] = gt.z;
    // Eight running sums: one chain of double adds would cost the latency of an add per gate.
    acc[i < (n & ~int64_t{7}) ? i % 8 : 0] += sigmoid(b.log_alpha[i] - shift);
  }
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

void gate_backward_scalar(const GateBackwardBlock& b, int64_t n, bool training, const GateParams& g, float shift, float lambda,
                          bool) {
  const float slope = 1.0f / ((g.zeta - g.gamma) * (training ? g.beta : 1.0f));
  for (int64_t i = 0; i < n; ++i) {
    const float z = b.z[i];
    const float dz = z > 0.0f && z < 1.0f ? (z - g.gamma) * (g.zeta - z) * slope : 0.0f;
    float pen_grad = 0.0f;
    if (lambda != 0.0f) {
      const float pen = sigmoid(b.log_alpha[i] - shift);
      pen_grad = lambda * pen * (1.0f - pen);
    }
    b.d_delta[i] = b.dw[i] * z;
    b.d_log_alpha[i] = b.dw[i] * b.delta[i] * dz + pen_grad;
  }
}

void diff_prune_backward(const DiffPruneArgs& p, const float* dw, float lambda, const float* gates, float* d_delta, float* d_log_alpha) {
  const float shift = penalty_shift(p.gate);
  if (gates != nullptr && !p.structured) {
    const GateBackwardFn fn = for_cpu_path(gate_backward_scalar, gate_backward_avx2);
    const bool stream = p.n >= kStreamMin;
    parallel_for(p.n, 1 << 14, [&](int64_t i0, int64_t i1) {
      fn({dw + i0, p.delta + i0, p.log_alpha + i0, gates + i0, d_delta + i0, d_log_alpha + i0}, i1 - i0, p.training, p.gate,
         shift, lambda, stream);
    });
    return;
  }
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
  const GateBlockFn block = active_gate_block();
  for_chunks(p, [&](int64_t, int64_t i0, int64_t len, const uint32_t* bits) {
    float z[kChunk], dz[kChunk], pen[kChunk];
    block(p.log_alpha + i0, bits, len, p.training, p.gate, shift, z, dz, pen);
    for (int64_t j = 0; j < len; ++j) {
      const int64_t i = i0 + j;
      d_delta[i] = dw[i] * z[j];
      d_log_alpha[i] = dw[i] * p.delta[i] * dz[j] + lambda * pen[j] * (1.0f - pen[j]);
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
