// Fused LoRA linear layer (docs/DESIGN.md): x [T, K], W [N, K] frozen, bias [N], A [r, K], B [N, r], s = scale.
//   forward:  u = drop(x) A^T [T, r] (kept for the backward);  y = x W^T + bias + s u B^T
//   backward: g = s dy B [T, r] and dB = s dy^T u [N, r] and dbias = colsum(dy), in one pass over dy;
//             dA = g^T drop(x) [r, K];  dx = dy W + mask * (g A).  No gradient is ever formed for W.
// The dropout mask of element (t, k) is drawn from (seed, (row_offset + t) * K + k), so a slice of rows
// of a batch (one sample's adapter in a mixed batch) sees the same mask as the whole batch would.
#pragma once

#include <cstdint>

namespace peftjs {

struct LoraForwardArgs {
  int64_t t = 0, k = 0, n = 0, r = 0;
  const float* x = nullptr;
  const float* w = nullptr;     // null: y already holds the base output (another adapter's call made it)
  const float* bias = nullptr;  // used with w
  const float* a = nullptr;
  const float* b = nullptr;
  float scale = 1.0f;
  float dropout = 0.0f;
  uint64_t seed = 0;
  int64_t row_offset = 0;
  float* u = nullptr;  // out [T, r]
  float* y = nullptr;  // out (or in-out when w is null) [T, N]
};

struct LoraBackwardArgs {
  int64_t t = 0, k = 0, n = 0, r = 0;
  const float* x = nullptr;
  const float* w = nullptr;  // null: dx already holds dy W (or other adapters' terms); only g A is added
  const float* a = nullptr;
  const float* b = nullptr;
  const float* u = nullptr;
  const float* dy = nullptr;
  float scale = 1.0f;
  float dropout = 0.0f;
  uint64_t seed = 0;
  int64_t row_offset = 0;
  float* dx = nullptr;     // [T, K] or null (input needs no gradient)
  float* da = nullptr;     // [r, K], overwritten
  float* db = nullptr;     // [N, r], overwritten
  float* dbias = nullptr;  // [N], overwritten; or null when the bias is frozen
};

void lora_forward(const LoraForwardArgs& args);
void lora_backward(const LoraBackwardArgs& args);

// The pass over dy: g = s dy B, dB = s dy^T u, dbias = column sums of dy (null to skip).
void lora_dy_pass(const float* dy, const float* b, const float* u, int64_t t, int64_t n, int64_t r, float scale,
                  float* g, float* db, float* dbias);

}  // namespace peftjs
