// AdamW and SGD updates on the GPU, element for element as csrc/kernels/optim (the same scalars and the same
// per-element arithmetic: csrc/kernels/optim/optim_math.h), one grid-stride loop per update; and the sum of
// squares a gradient norm is made of, left in device memory.
#include <cuda_runtime.h>

#include "../csrc/kernels/optim/optim_math.h"
#include "block_reduce.cuh"
#include "common.cuh"
#include "device_api.h"

namespace peftjs {
namespace cuda {
namespace {

__global__ void adamw_kernel(int64_t n, float* p, const float* g, float* m, float* v, AdamwScalars k) {
  for (int64_t i = detail::first_index(); i < n; i += detail::grid_stride()) adamw_element(p[i], g[i], m[i], v[i], k);
}

__global__ void sgd_plain_kernel(int64_t n, float* p, const float* g, SgdScalars k) {
  for (int64_t i = detail::first_index(); i < n; i += detail::grid_stride()) sgd_plain_element(p[i], g[i], k);
}

template <bool kFirst, bool kNesterov>
__global__ void sgd_momentum_kernel(int64_t n, float* p, const float* g, float* buf, SgdScalars k) {
  for (int64_t i = detail::first_index(); i < n; i += detail::grid_stride())
    sgd_momentum_element<kFirst, kNesterov>(p[i], g[i], buf[i], k);
}

// The sum of squares in two fixed stages: kSumBlocks blocks each sum a grid-stride share in double, then one
// block adds the partials in order. The grid never depends on the device, so the result is the same on
// every run and every GPU.
constexpr int kSumBlocks = 512;

__global__ void __launch_bounds__(detail::kRowThreads) sum_squares_partials(const float* x, int64_t n, double* partials) {
  __shared__ double scratch[detail::kRowWarps];
  double s = 0.0;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    s += static_cast<double>(x[i]) * x[i];
  s = detail::block_sum(s, scratch);
  if (threadIdx.x == 0) partials[blockIdx.x] = s;
}

__global__ void __launch_bounds__(detail::kRowThreads) sum_partials(const double* partials, int count, double* out) {
  __shared__ double scratch[detail::kRowWarps];
  double s = 0.0;
  for (int i = threadIdx.x; i < count; i += blockDim.x) s += partials[i];
  s = detail::block_sum(s, scratch);
  if (threadIdx.x == 0) *out = s;
}

}  // namespace

bool sum_squares(const float* x, int64_t n, double* out_dev, std::string* error) {
  auto* partials = static_cast<double*>(alloc_async(kSumBlocks * sizeof(double), error));
  if (partials == nullptr) return false;
  sum_squares_partials<<<kSumBlocks, detail::kRowThreads, 0, detail::stream()>>>(x, n, partials);
  bool ok = detail::launched("sum_squares", error);
  if (ok) {
    sum_partials<<<1, detail::kRowThreads, 0, detail::stream()>>>(partials, kSumBlocks, out_dev);
    ok = detail::launched("sum_squares", error);
  }
  return free_async(partials, ok ? error : nullptr) && ok;
}

bool adamw_step(const AdamwArgs& a, std::string* error) {
  if (a.n == 0) return true;
  adamw_kernel<<<detail::grid_for(a.n), detail::kThreads, 0, detail::stream()>>>(a.n, a.param, a.grad, a.m, a.v, adamw_scalars(a));
  return detail::launched("adamw_step", error);
}

bool sgd_step(const SgdArgs& a, std::string* error) {
  if (a.n == 0) return true;
  const SgdScalars k = sgd_scalars(a);
  const unsigned int grid = detail::grid_for(a.n);
  const int threads = detail::kThreads;
  float* buf = a.momentum_buf;
  if (buf == nullptr) sgd_plain_kernel<<<grid, threads, 0, detail::stream()>>>(a.n, a.param, a.grad, k);
  else if (a.first_step && a.nesterov) sgd_momentum_kernel<true, true><<<grid, threads, 0, detail::stream()>>>(a.n, a.param, a.grad, buf, k);
  else if (a.first_step) sgd_momentum_kernel<true, false><<<grid, threads, 0, detail::stream()>>>(a.n, a.param, a.grad, buf, k);
  else if (a.nesterov) sgd_momentum_kernel<false, true><<<grid, threads, 0, detail::stream()>>>(a.n, a.param, a.grad, buf, k);
  else sgd_momentum_kernel<false, false><<<grid, threads, 0, detail::stream()>>>(a.n, a.param, a.grad, buf, k);
  return detail::launched("sgd_step", error);
}

}  // namespace cuda
}  // namespace peftjs
