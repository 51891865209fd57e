// RMSNorm and LayerNorm with the semantics of csrc/kernels/norm/norm.cc: one 256-thread block per row for
// the row statistics and dx (sums per thread in double, combined by a fixed tree: the same result every
// run), and one thread per column for dweight / dbias (a loop over the rows in order: deterministic, no
// atomics). dweight and dbias are written, not accumulated, as on the CPU.
#include <cuda_runtime.h>

#include <cmath>

#include "block_reduce.cuh"
#include "common.cuh"
#include "device_api.h"

namespace peftjs {
namespace cuda {
namespace {

using detail::block_sum;
constexpr int kThreads = detail::kRowThreads;
constexpr int kWarps = detail::kRowWarps;
constexpr int64_t kMaxGridRows = 1 << 20;  // rows beyond loop (grid-stride over rows)

__device__ __forceinline__ float weight_at(const float* w, int64_t j) { return w ? w[j] : 1.0f; }

__global__ void __launch_bounds__(kThreads) rms_forward(NormArgs a, float* y, float* rstd) {
  __shared__ double scratch[kWarps];
  for (int64_t r = blockIdx.x; r < a.rows; r += gridDim.x) {
    const float* x = a.x + r * a.cols;
    double ss = 0.0;
    for (int64_t j = threadIdx.x; j < a.cols; j += kThreads) ss += static_cast<double>(x[j]) * x[j];
    const float s = static_cast<float>(1.0 / sqrt(block_sum(ss, scratch) / static_cast<double>(a.cols) + a.eps));
    if (threadIdx.x == 0) rstd[r] = s;
    for (int64_t j = threadIdx.x; j < a.cols; j += kThreads) y[r * a.cols + j] = x[j] * s * weight_at(a.weight, j);
  }
}

__global__ void __launch_bounds__(kThreads) rms_backward_dx(NormArgs a, const float* rstd, const float* dy, float* dx) {
  __shared__ double scratch[kWarps];
  for (int64_t r = blockIdx.x; r < a.rows; r += gridDim.x) {
    const float* x = a.x + r * a.cols;
    const float* g = dy + r * a.cols;
    const float s = rstd[r];
    double dot = 0.0;
    for (int64_t j = threadIdx.x; j < a.cols; j += kThreads) dot += static_cast<double>(g[j]) * weight_at(a.weight, j) * x[j];
    const float coef = static_cast<float>(block_sum(dot, scratch) * s * s * s / static_cast<double>(a.cols));
    for (int64_t j = threadIdx.x; j < a.cols; j += kThreads) dx[r * a.cols + j] = s * g[j] * weight_at(a.weight, j) - x[j] * coef;
  }
}

__global__ void __launch_bounds__(kThreads) layer_forward(NormArgs a, const float* bias, float* y, float* mean, float* rstd) {
  __shared__ double scratch[kWarps];
  for (int64_t r = blockIdx.x; r < a.rows; r += gridDim.x) {
    const float* x = a.x + r * a.cols;
    double sum = 0.0;
    for (int64_t j = threadIdx.x; j < a.cols; j += kThreads) sum += x[j];
    const float mu = static_cast<float>(block_sum(sum, scratch) / static_cast<double>(a.cols));
    double sq = 0.0;
    for (int64_t j = threadIdx.x; j < a.cols; j += kThreads) {
      const double c = static_cast<double>(x[j]) - mu;
      sq += c * c;
    }
    const float s = static_cast<float>(1.0 / sqrt(block_sum(sq, scratch) / static_cast<double>(a.cols) + a.eps));
    if (threadIdx.x == 0) mean[r] = mu, rstd[r] = s;
    for (int64_t j = threadIdx.x; j < a.cols; j += kThreads)
      y[r * a.cols + j] = (x[j] - mu) * s * weight_at(a.weight, j) + (bias ? bias[j] : 0.0f);
  }
}

__global__ void __launch_bounds__(kThreads) layer_backward_dx(NormArgs a, const float* mean, const float* rstd, const float* dy,
                                                              float* dx) {
  __shared__ double scratch[kWarps];
  for (int64_t r = blockIdx.x; r < a.rows; r += gridDim.x) {
    const float* x = a.x + r * a.cols;
    const float* g = dy + r * a.cols;
    const float mu = mean[r], s = rstd[r];
    double sg = 0.0, sgx = 0.0;
    for (int64_t j = threadIdx.x; j < a.cols; j += kThreads) {
      const double gw = static_cast<double>(g[j]) * weight_at(a.weight, j);
      sg += gw;
      sgx += gw * (x[j] - mu);
    }
    const float mg = static_cast<float>(block_sum(sg, scratch) / static_cast<double>(a.cols));
    const float mgx = static_cast<float>(block_sum(sgx, scratch) * s / static_cast<double>(a.cols));
    for (int64_t j = threadIdx.x; j < a.cols; j += kThreads) {
      const float xhat = (x[j] - mu) * s;
      dx[r * a.cols + j] = s * (g[j] * weight_at(a.weight, j) - mg - xhat * mgx);
    }
  }
}

// dweight[j] = sum_r dy[r, j] xhat[r, j] and dbias[j] = sum_r dy[r, j], the rows in order. mean null: RMSNorm.
__global__ void column_grads(NormArgs a, const float* mean, const float* rstd, const float* dy, float* dweight, float* dbias) {
  for (int64_t j = detail::first_index(); j < a.cols; j += detail::grid_stride()) {
    float dw = 0.0f, db = 0.0f;
    for (int64_t r = 0; r < a.rows; ++r) {
      const float g = dy[r * a.cols + j];
      dw += g * (a.x[r * a.cols + j] - (mean ? mean[r] : 0.0f)) * rstd[r];
      db += g;
    }
    if (dweight) dweight[j] = dw;
    if (dbias) dbias[j] = db;
  }
}

unsigned int row_grid(int64_t rows) { return static_cast<unsigned int>(rows < kMaxGridRows ? rows : kMaxGridRows); }

bool column_pass(const NormArgs& a, const float* mean, const float* rstd, const float* dy, float* dweight, float* dbias,
                 std::string* error) {
  if (dweight == nullptr && dbias == nullptr) return true;
  column_grads<<<detail::grid_for(a.cols), detail::kThreads, 0, detail::stream()>>>(a, mean, rstd, dy, dweight, dbias);
  return detail::launched("norm column_grads", error);
}

}  // namespace

bool rms_norm_forward(const NormArgs& a, float* y, float* rstd, std::string* error) {
  if (a.rows == 0) return true;
  rms_forward<<<row_grid(a.rows), kThreads, 0, detail::stream()>>>(a, y, rstd);
  return detail::launched("rms_norm_forward", error);
}

bool rms_norm_backward(const NormArgs& a, const float* rstd, const float* dy, float* dx, float* dweight, std::string* error) {
  if (a.rows == 0) {
    if (dweight) return detail::ok(cudaMemsetAsync(dweight, 0, a.cols * sizeof(float), detail::stream()), "rms_norm_backward memset", error);
    return true;
  }
  rms_backward_dx<<<row_grid(a.rows), kThreads, 0, detail::stream()>>>(a, rstd, dy, dx);
  if (!detail::launched("rms_norm_backward", error)) return false;
  return column_pass(a, nullptr, rstd, dy, dweight, nullptr, error);
}

bool layer_norm_forward(const NormArgs& a, const float* bias, float* y, float* mean, float* rstd, std::string* error) {
  if (a.rows == 0) return true;
  layer_forward<<<row_grid(a.rows), kThreads, 0, detail::stream()>>>(a, bias, y, mean, rstd);
  return detail::launched("layer_norm_forward", error);
}

bool layer_norm_backward(const NormArgs& a, const float* mean, const float* rstd, const float* dy, float* dx, float* dweight,
                         float* dbias, std::string* error) {
  if (a.rows == 0) {
    if (dweight && !detail::ok(cudaMemsetAsync(dweight, 0, a.cols * sizeof(float), detail::stream()), "layer_norm_backward memset", error)) return false;
    if (dbias) return detail::ok(cudaMemsetAsync(dbias, 0, a.cols * sizeof(float), detail::stream()), "layer_norm_backward memset", error);
    return true;
  }
  layer_backward_dx<<<row_grid(a.rows), kThreads, 0, detail::stream()>>>(a, mean, rstd, dy, dx);
  if (!detail::launched("layer_norm_backward", error)) return false;
  return column_pass(a, mean, rstd, dy, dweight, dbias, error);
}

}  // namespace cuda
}  // namespace peftjs
