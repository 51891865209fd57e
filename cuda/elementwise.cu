// Elementwise kernels: the semantics of csrc/kernels/elementwise/elementwise.cc. Every kernel is a grid-stride loop
// over int64 indices. Products and sums the CPU evaluates as separate float operations use the __f*_rn
// intrinsics, which nvcc never contracts into an FMA, so binary, scale, relu, neg, sqrt and fill give
// the CPU's bits; the transcendental ops use CUDA's float math library (within 1-2 ulp of the CPU's).
// The unary ops' math is the shared table, csrc/kernels/elementwise/unary_ops.h.
#include <cuda_runtime.h>

#include "common.cuh"
#include "device_api.h"

namespace peftjs {
namespace cuda {
namespace {

using detail::first_index;
using detail::grid_stride;

template <BinaryOp OP>
__device__ __forceinline__ float apply_binary(float x, float y) {
  if constexpr (OP == BinaryOp::Add) return __fadd_rn(x, y);
  else if constexpr (OP == BinaryOp::Sub) return __fsub_rn(x, y);
  else if constexpr (OP == BinaryOp::Mul) return __fmul_rn(x, y);
  else return __fdiv_rn(x, y);
}

// b_len == n: out[i] = a[i] op b[i].
template <BinaryOp OP>
__global__ void binary_same_kernel(const float* a, const float* b, float* out, int64_t n) {
  for (int64_t i = first_index(); i < n; i += grid_stride()) out[i] = apply_binary<OP>(a[i], b[i]);
}

// b broadcast as a row of width b_len: out[i] = a[i] op b[i % b_len]. The column is carried along the
// grid-stride loop instead of taking a 64-bit remainder per element.
template <BinaryOp OP>
__global__ void binary_row_kernel(const float* a, const float* b, float* out, int64_t n, int64_t b_len) {
  int64_t i = first_index();
  if (i >= n) return;
  const int64_t stride = grid_stride();
  const int64_t step = stride % b_len;
  int64_t j = i % b_len;
  for (; i < n; i += stride) {
    out[i] = apply_binary<OP>(a[i], b[j]);
    j += step;
    if (j >= b_len) j -= b_len;
  }
}

template <BinaryOp OP>
bool launch_binary(const float* a, const float* b, float* out, int64_t n, int64_t b_len, std::string* error) {
  const unsigned int blocks = detail::grid_for(n);
  if (b_len == n) {
    binary_same_kernel<OP><<<blocks, detail::kThreads, 0, detail::stream()>>>(a, b, out, n);
  } else {
    binary_row_kernel<OP><<<blocks, detail::kThreads, 0, detail::stream()>>>(a, b, out, n, b_len);
  }
  return detail::launched("binary", error);
}

__global__ void scale_kernel(const float* a, float* out, int64_t n, float alpha, float beta) {
  for (int64_t i = first_index(); i < n; i += grid_stride()) out[i] = __fadd_rn(__fmul_rn(alpha, a[i]), beta);
}

template <UnaryOp OP>
__global__ void unary_kernel(const float* a, float* out, int64_t n) {
  for (int64_t i = first_index(); i < n; i += grid_stride()) out[i] = UnaryMath<OP>::f(a[i]);
}

template <UnaryOp OP>
bool launch_unary(const float* a, float* out, int64_t n, std::string* error) {
  unary_kernel<OP><<<detail::grid_for(n), detail::kThreads, 0, detail::stream()>>>(a, out, n);
  return detail::launched("unary", error);
}

__global__ void fill_kernel(float* out, int64_t n, float value) {
  for (int64_t i = first_index(); i < n; i += grid_stride()) out[i] = value;
}

bool bad_argument(std::string* error, const char* message) {
  if (error) *error = message;
  return false;
}

}  // namespace

bool binary(BinaryOp op, const float* a, const float* b, float* out, int64_t n, int64_t b_len, std::string* error) {
  if (n <= 0) return true;
  if (b_len <= 0 || n % b_len != 0)
    return bad_argument(error, "binary: b's length must equal n or be a row width that divides n");
  switch (op) {
    case BinaryOp::Add: return launch_binary<BinaryOp::Add>(a, b, out, n, b_len, error);
    case BinaryOp::Sub: return launch_binary<BinaryOp::Sub>(a, b, out, n, b_len, error);
    case BinaryOp::Mul: return launch_binary<BinaryOp::Mul>(a, b, out, n, b_len, error);
    case BinaryOp::Div: return launch_binary<BinaryOp::Div>(a, b, out, n, b_len, error);
  }
  return bad_argument(error, "binary: unknown op");
}

bool scale(const float* a, float* out, int64_t n, float alpha, float beta, std::string* error) {
  if (n <= 0) return true;
  scale_kernel<<<detail::grid_for(n), detail::kThreads, 0, detail::stream()>>>(a, out, n, alpha, beta);
  return detail::launched("scale", error);
}

bool unary(UnaryOp op, const float* a, float* out, int64_t n, std::string* error) {
  if (n <= 0) return true;
  return with_unary_op(op, [&](auto tag) { return launch_unary<decltype(tag)::value>(a, out, n, error); });
}

bool fill(float* out, int64_t n, float value, std::string* error) {
  if (n <= 0) return true;
  fill_kernel<<<detail::grid_for(n), detail::kThreads, 0, detail::stream()>>>(out, n, value);
  return detail::launched("fill", error);
}

}  // namespace cuda
}  // namespace peftjs
