// The optimizer updates' arithmetic, shared by the CPU loops (optim.cc) and the CUDA kernels (cuda/optim.cu):
// the scalars as torch forms them (Python floats in double, rounded to float once) and the update of one
// element, in the order PyTorch's single-tensor path computes it.
#pragma once

#include <cmath>

#include "optim.h"

#ifdef __CUDACC__
#define PEFTJS_OPTIM_HD __host__ __device__ __forceinline__
#else
#define PEFTJS_OPTIM_HD inline
#endif

namespace peftjs {

struct AdamwScalars {
  float decay, b1, one_minus_b1, b2, one_minus_b2, neg_step_size, bc2_sqrt, eps;
};

inline AdamwScalars adamw_scalars(const AdamwArgs& a) {
  const double step = static_cast<double>(a.step);
  return AdamwScalars{
      static_cast<float>(1.0 - a.lr * a.weight_decay),
      static_cast<float>(a.beta1), static_cast<float>(1.0 - a.beta1),
      static_cast<float>(a.beta2), static_cast<float>(1.0 - a.beta2),
      static_cast<float>(-(a.lr / (1.0 - std::pow(a.beta1, step)))),
      static_cast<float>(std::sqrt(1.0 - std::pow(a.beta2, step))),
      static_cast<float>(a.eps),
  };
}

// One element of AdamW: p, m, v updated in place from g.
PEFTJS_OPTIM_HD void adamw_element(float& p, float g, float& m, float& v, const AdamwScalars& k) {
  const float mi = m * k.b1 + k.one_minus_b1 * g;
  const float vi = v * k.b2 + k.one_minus_b2 * g * g;
  const float denom = sqrtf(vi) / k.bc2_sqrt + k.eps;
  p = p * k.decay + k.neg_step_size * (mi / denom);
  m = mi;
  v = vi;
}

struct SgdScalars {
  float wd, mom, one_minus_damp, neg_lr;
};

inline SgdScalars sgd_scalars(const SgdArgs& a) {
  return SgdScalars{static_cast<float>(a.weight_decay), static_cast<float>(a.momentum), static_cast<float>(1.0 - a.dampening),
                    static_cast<float>(-a.lr)};
}

// One element of SGD without momentum.
PEFTJS_OPTIM_HD void sgd_plain_element(float& p, float g, const SgdScalars& k) { p = p + k.neg_lr * (g + k.wd * p); }

// One element of SGD with momentum: on the first step the buffer starts as d (torch clones d_p).
template <bool kFirst, bool kNesterov>
PEFTJS_OPTIM_HD void sgd_momentum_element(float& p, float g, float& buf, const SgdScalars& k) {
  const float d = g + k.wd * p;
  const float b = kFirst ? d : buf * k.mom + k.one_minus_damp * d;
  buf = b;
  p = p + k.neg_lr * (kNesterov ? d + k.mom * b : b);
}

}  // namespace peftjs
