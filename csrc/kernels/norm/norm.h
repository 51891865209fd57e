// RMSNorm (HF LlamaRMSNorm) and LayerNorm (torch.nn.LayerNorm, biased variance) over the rows of a
// [rows, cols] matrix, forward and backward. weight/bias may be null (no affine part).
#pragma once

#include <cstdint>

namespace peftjs {

struct NormArgs {
  int64_t rows = 0, cols = 0;
  const float* x = nullptr;
  const float* weight = nullptr;
  float eps = 0;
};

// y = x * rstd * weight, rstd[r] = 1 / sqrt(mean(x^2) + eps)
void rms_norm_forward(const NormArgs& p, float* y, float* rstd);
// dx = rstd * (g - xhat * mean(g * xhat)), g = dy * weight, xhat = x * rstd; dweight (written) = sum_r dy * xhat
void rms_norm_backward(const NormArgs& p, const float* rstd, const float* dy, float* dx, float* dweight);

// y = (x - mean) * rstd * weight + bias; saves mean[r] and rstd[r]
void layer_norm_forward(const NormArgs& p, const float* bias, float* y, float* mean, float* rstd);
// dx = rstd * (g - mean(g) - xhat * mean(g * xhat)); dweight = sum_r dy * xhat, dbias = sum_r dy (written)
void layer_norm_backward(const NormArgs& p, const float* mean, const float* rstd, const float* dy, float* dx,
                         float* dweight, float* dbias);

}  // namespace peftjs
