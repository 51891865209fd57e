// The dequantization loops behind dequantize() (dequantize.h), one per CPU path: each writes out[i] for i in
// [s, e) (out indexed by the weight's own positions), on one thread.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>

#include "dequantize.h"

namespace peftjs {

// bitsandbytes' NF4 code values (csrc/kernels.cu nf4_dequantization_lut).
extern const float kNf4Codes[16];

// bitsandbytes' signed dynamic map (the double-quantized absmax codes), built once; cuda/dequantize.cu
// hands the same table to the device.
const std::array<float, 256>& dynamic_map();

// The absmax of NF4 block b (from the double-quantized form when there is one).
float nf4_block_absmax(const QuantizedWeight& w, int64_t b);

void dequantize_range_scalar(const QuantizedWeight& w, int64_t s, int64_t e, float* out);

// The walk the vector builds share for the grouped formats (int8 scale groups, NF4 blocks): a group at a
// time, `whole(i, end, group)` writes whole vectors from i up to at most end and returns where it stopped;
// the portable loop writes the rest of the group. An NF4 vector starts on a byte, so an odd i takes one
// value by hand first.
template <class Whole>
void dequantize_by_groups(const QuantizedWeight& w, int64_t s, int64_t e, float* out, Whole whole) {
  int64_t i = s;
  while (i < e) {
    if (w.format == WeightFormat::Nf4 && (i & 1)) {
      dequantize_range_scalar(w, i, i + 1, out);
      ++i;
      continue;
    }
    const int64_t group = i / w.group, end = std::min(e, (group + 1) * w.group);
    i = whole(i, end, group);
    dequantize_range_scalar(w, i, end, out);
    i = end;
  }
}
void dequantize_range_avx2(const QuantizedWeight& w, int64_t s, int64_t e, float* out);
void dequantize_range_avx512(const QuantizedWeight& w, int64_t s, int64_t e, float* out);

}  // namespace peftjs
