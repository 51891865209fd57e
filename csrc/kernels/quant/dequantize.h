// Frozen low-precision weights (bfloat16, float16, int8 with absmax groups, NF4 with absmax blocks, the
// absmax optionally double-quantized) back to float32, a range of the row-major weight at a time: the GEMMs
// on such weights dequantize one panel of rows, so a full float32 copy never exists. lib/quant/*.ts is the
// reference (and holds the formats' definitions).
#pragma once

#include <cstdint>

namespace peftjs {

enum class WeightFormat { Bf16, F16, Int8, Nf4 };

struct QuantizedWeight {
  WeightFormat format;
  int64_t n;             // values in the weight
  int64_t group;         // int8: values per absmax; nf4: the block size
  const uint8_t* data;   // bf16/f16: 2 bytes a value (little-endian); int8: 1; nf4: two codes a byte, high first
  const float* absmax;   // int8/nf4: one per group, or null when double-quantized (nf4)
  // NF4 double quantization: absmax[b] = kDynamicMap[nested_codes[b]] * nested_absmax[b / 256] + offset.
  const uint8_t* nested_codes;
  const float* nested_absmax;
  float offset;
};

// out[i - start] = the weight's value i, for i in [start, end).
void dequantize(const QuantizedWeight& w, int64_t start, int64_t end, float* out);

}  // namespace peftjs
