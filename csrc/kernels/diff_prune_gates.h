// The hard-concrete gates of a block of parameters, per CPU path: z, dz/dlog_alpha and the penalty
// term sigmoid(log_alpha - shift). `bits` holds each parameter's stream word (ignored in eval mode).
#pragma once

#include <cstdint>

#include "diff_prune.h"

namespace peftjs {

using GateBlockFn = void (*)(const float* log_alpha, const uint32_t* bits, int64_t n, bool training,
                             const GateParams& g, float shift, float* z, float* dz, float* penalty_term);

void gate_block_scalar(const float* log_alpha, const uint32_t* bits, int64_t n, bool training, const GateParams& g,
                       float shift, float* z, float* dz, float* penalty_term);
void gate_block_avx2(const float* log_alpha, const uint32_t* bits, int64_t n, bool training, const GateParams& g,
                     float shift, float* z, float* dz, float* penalty_term);

// The backward from the forward's gates z (no random bits, no gate math): z inside (0, 1) gives
// dz/dlog_alpha = (z - gamma)(zeta - z) / ((zeta - gamma) beta) (beta read as 1 in eval mode), a clamped
// z gives 0; d_delta = dw z, d_log_alpha = dw delta dz + lambda p (1 - p) with p = sigmoid(la - shift).
struct GateBackwardBlock {
  const float* dw;
  const float* delta;
  const float* log_alpha;
  const float* z;
  float* d_delta;
  float* d_log_alpha;
};
using GateBackwardFn = void (*)(const GateBackwardBlock& b, int64_t n, bool training, const GateParams& g, float shift, float lambda);

void gate_backward_scalar(const GateBackwardBlock& b, int64_t n, bool training, const GateParams& g, float shift, float lambda);
void gate_backward_avx2(const GateBackwardBlock& b, int64_t n, bool training, const GateParams& g, float shift, float lambda);

}  // namespace peftjs
