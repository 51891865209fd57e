// Rotary position embedding, in place, on x viewed as [rows, heads, headDim] with rowStride between rows.
#pragma once

#include <cstdint>

namespace peftjs {

struct RopeArgs {
  int64_t rows = 0, heads = 0, head_dim = 0, rotary_dim = 0, row_stride = 0;
  float* x = nullptr;
  const int32_t* positions = nullptr;
  float theta = 10000.0f;
  bool interleaved = false;  // pairs (2i, 2i+1) (llama2.c, Meta); else (i, i + rotary_dim/2) (HF rotate_half)
  bool inverse = false;      // rotate by -angle: the backward (a rotation's transpose)
};

void rope(const RopeArgs& p);

}  // namespace peftjs
