// Diff pruning with L0-masked (hard-concrete) gates (docs/DESIGN.md). For n parameters: W' = W + z * delta,
//   u ~ U(0,1) from (seed, i) (training) | s = sigmoid((log u - log(1-u) + log_alpha) / beta), or
//   s = sigmoid(log_alpha) (eval);  z = clamp(s (zeta - gamma) + gamma, 0, 1);
//   penalty = sum sigmoid(log_alpha - beta log(-gamma / zeta)).
// A structured gate has one log_alpha for the whole tensor (one draw, index 0).
#pragma once

#include <cstdint>

namespace peftjs {

struct GateParams {
  float gamma = -1.5f, zeta = 1.5f, beta = 1.0f;
};

struct DiffPruneArgs {
  int64_t n = 0;
  const float* delta = nullptr;
  const float* log_alpha = nullptr;
  bool structured = false;  // log_alpha has one element
  bool training = true;
  uint64_t seed = 0;
  GateParams gate;
};

// w_out = w + z * delta (w_out may alias w only when w is not needed again); z_out (nullable) gets z.
// Returns the penalty (sum over gates, in double).
double diff_prune_forward(const DiffPruneArgs& args, const float* w, float* w_out, float* z_out);
// d_delta = dw * z; d_log_alpha = dw * delta * dz/dla + lambda dpenalty/dla (overwritten; one value
// when structured). gates (nullable): the z the forward returned for the same arguments; with them the
// backward is one streaming pass instead of regenerating the random bits and the gates.
void diff_prune_backward(const DiffPruneArgs& args, const float* dw, float lambda, const float* gates, float* d_delta,
                         float* d_log_alpha);
// Keeps the `keep` entries of v with the largest |v| (ties broken by index), zeroing the rest; the
// threshold is found by selection (nth_element), not a full sort. Returns the threshold magnitude.
float project_top_k(float* v, int64_t n, int64_t keep);

}  // namespace peftjs
