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

// The forward of a block, fused: w_out = w + z delta and z_out = z (nullable), returning the block's
// penalty (the terms in eight running sums, lane j taking i = j mod 8, then combined pairwise). With
// `stream`, outputs bypass the cache (for tensors far larger than it); the scalar path ignores it.
struct GateForwardBlock {
  const float* w;
  const float* delta;
  const float* log_alpha;
  const uint32_t* bits;
  float* w_out;
  float* z_out;
};
using GateForwardFn = double (*)(const GateForwardBlock& b, int64_t n, bool training, const GateParams& g, float shift, bool stream);

double gate_forward_scalar(const GateForwardBlock& b, int64_t n, bool training, const GateParams& g, float shift, bool stream);
double gate_forward_avx2(const GateForwardBlock& b, int64_t n, bool training, const GateParams& g, float shift, bool stream);

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
using GateBackwardFn = void (*)(const GateBackwardBlock& b, int64_t n, bool training, const GateParams& g, float shift,
                               float lambda, bool stream);

void gate_backward_scalar(const GateBackwardBlock& b, int64_t n, bool training, const GateParams& g, float shift,
                          float lambda, bool stream);
void gate_backward_avx2(const GateBackwardBlock& b, int64_t n, bool training, const GateParams& g, float shift,
                        float lambda, bool stream);

}  // namespace peftjs
