// Fused optimizer updates over one flat float32 parameter, with torch.optim's semantics (torch 1.13):
// every per-element value is computed in float32 in the order PyTorch's single-tensor path computes it,
// with the scalar hyperparameters formed in double and rounded to float once, as ATen does.
#pragma once

#include <cstdint>

namespace peftjs {

struct AdamwArgs {
  int64_t n = 0;
  float* param = nullptr;
  const float* grad = nullptr;
  float* m = nullptr;  // exp_avg
  float* v = nullptr;  // exp_avg_sq
  double lr = 0, beta1 = 0, beta2 = 0, eps = 0, weight_decay = 0;
  int64_t step = 1;  // the step count after this update (1 on the first)
};

// param *= 1 - lr wd; m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
// param -= lr / (1 - b1^step) * m / (sqrt(v) / sqrt(1 - b2^step) + eps). One pass over the four arrays.
void adamw_step(const AdamwArgs& a);

struct SgdArgs {
  int64_t n = 0;
  float* param = nullptr;
  const float* grad = nullptr;  // read only: torch leaves .grad untouched
  float* momentum_buf = nullptr;  // null when momentum == 0
  double lr = 0, momentum = 0, dampening = 0, weight_decay = 0;
  bool nesterov = false;
  bool first_step = false;  // the momentum buffer starts as a copy of d_p (no dampening on the first step)
};

// d = g + wd param; buf = first ? d : momentum buf + (1 - dampening) d; d = nesterov ? d + momentum buf : buf;
// param -= lr d.
void sgd_step(const SgdArgs& a);

// Sum of x^2 accumulated in double, in fixed chunks summed in order: the same result for any thread count.
double sum_squares(const float* x, int64_t n);

}  // namespace peftjs
