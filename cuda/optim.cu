// AdamW and SGD updates on the GPU, element for element as csrc/kernels/optim (the same scalars and the same
// per-element arithmetic: csrc/kernels/optim/optim_math.h), one grid-stride loop per update.
#include <cuda_runtime.h>

#include "../csrc/kernels/optim/optim_math.h"
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

}  // namespace

bool adamw_step(const AdamwArgs& a, std::string* error) {
  if (a.n == 0) return true;
  adamw_kernel<<<detail::grid_for(a.n), detail::kThreads>>>(a.n, a.param, a.grad, a.m, a.v, adamw_scalars(a));
  return detail::launched("adamw_step", error);
}

bool sgd_step(const SgdArgs& a, std::string* error) {
  if (a.n == 0) return true;
  const SgdScalars k = sgd_scalars(a);
  const unsigned int grid = detail::grid_for(a.n);
  const int threads = detail::kThreads;
  float* buf = a.momentum_buf;
  if (buf == nullptr) sgd_plain_kernel<<<grid, threads>>>(a.n, a.param, a.grad, k);
  else if (a.first_step && a.nesterov) sgd_momentum_kernel<true, true><<<grid, threads>>>(a.n, a.param, a.grad, buf, k);
  else if (a.first_step) sgd_momentum_kernel<true, false><<<grid, threads>>>(a.n, a.param, a.grad, buf, k);
  else if (a.nesterov) sgd_momentum_kernel<false, true><<<grid, threads>>>(a.n, a.param, a.grad, buf, k);
  else sgd_momentum_kernel<false, false><<<grid, threads>>>(a.n, a.param, a.grad, buf, k);
  return detail::launched("sgd_step", error);
}

}  // namespace cuda
}  // namespace peftjs
