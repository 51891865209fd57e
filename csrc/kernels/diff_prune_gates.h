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

}  // namespace peftjs
