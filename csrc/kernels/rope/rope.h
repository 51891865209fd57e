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
  // RoPE scaling: rotary_dim/2 inverse frequencies (host memory, float32, computed by the caller as HF does)
  // used instead of theta^(-2i/rotary_dim); nullptr: from theta.
  const float* inv_freq = nullptr;
  // HF's attention_scaling: cos and sin are multiplied by it (forward and inverse alike). At 1 the kernels
  // skip the product, so the unscaled results stay bit-identical.
  float attention_factor = 1.0f;
};

void rope(const RopeArgs& p);

}  // namespace peftjs
