// (IA)3 on a frozen linear layer x [T, K], W [N, K], bias [N] (docs/DESIGN.md):
//   output scaling (k_proj, v_proj):  y = (x W^T + bias) * l,  l [N];  dl = colsum(dy * y_pre), dx = (dy * l) W
//   input scaling (FFN down_proj):    y = (x * l) W^T + bias,  l [K];  h = dy W, dl = colsum(h * x), dx = h * l
// Whichever operand is smaller is scaled (W or the activations), so the extra pass is over min(N K, T K).
#pragma once

#include <cstdint>

namespace peftjs {

enum class Ia3Mode { Output, Input };

struct Ia3Args {
  Ia3Mode mode = Ia3Mode::Output;
  int64_t t = 0, k = 0, n = 0;
  const float* x = nullptr;
  const float* w = nullptr;
  const float* bias = nullptr;
  const float* l = nullptr;
};

// y [T, N]; y_pre [T, N] (output mode, for the backward) may be null in inference.
void ia3_forward(const Ia3Args& args, float* y, float* y_pre);
// dy [T, N]; y_pre needed in output mode. dx [T, K] may be null; dl is overwritten.
void ia3_backward(const Ia3Args& args, const float* dy, const float* y_pre, float* dx, float* dl);

}  // namespace peftjs
