// The dequantization loops behind dequantize() (dequantize.h), one per CPU path: each writes out[i] for i in
// [s, e) (out indexed by the weight's own positions), on one thread.
#pragma once

#include <algorithm>
#include <cstdint>

#include "dequantize.h"

namespace peftjs {

// bitsandbytes' NF4 code values (csrc/kernels.cu nf4_dequantization_lut).
extern const float kNf4Codes[16];

// The absmax of NF4 block b (from the double-quantized form when there is one).
float nf4_block_absmax(const QuantizedWeight& w, int64_t b);

void dequantize_range_scalar(const QuantizedWeight& w, int64_t s, int64_t e, float* out);
void dequantize_range_avx2(const QuantizedWeight& w, int64_t s, int64_t e, float* out);
void dequantize_range_avx512(const QuantizedWeight& w, int64_t s, int64_t e, float* out);

}  // namespace peftjs
