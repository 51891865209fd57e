// The backward pieces of the primitives on the GPU (csrc/kernels/elementwise/grad_ops.h): unary gradients
// from the shared op table (unary_ops.h: dx = dy * f'(x)), the softmax gradient a block per row (the dot
// in double, as vdot sums it on the CPU), and column sums a thread per column over the rows in order.
#include <cuda_runtime.h>

#include "../csrc/kernels/elementwise/unary_ops.h"
#include "block_reduce.cuh"
#include "common.cuh"
#include "device_api.h"

namespace peftjs {
namespace cuda {
namespace {

using detail::block_sum;
using detail::kRowThreads;
using detail::kRowWarps;
constexpr int64_t kMaxGridRows = 1 << 20;

template <UnaryOp OP>
__global__ void unary_backward_kernel(const float* x, const float* dy, float* dx, int64_t n) {
  for (int64_t i = detail::first_index(); i < n; i += detail::grid_stride())
    dx[i] = unary_math::mul(dy[i], UnaryMath<OP>::df(x[i]));
}

// dx = y * (dy - sum(dy * y)) per row; dx may alias dy (each element is read before it is written, by the
// same thread, and the dot is complete before any write: block_sum's barriers order them).
__global__ void __launch_bounds__(kRowThreads) softmax_backward_kernel(const float* y, const float* dy, float* dx, int64_t rows,
                                                                       int64_t cols) {
  __shared__ double scratch[kRowWarps];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* yr = y + r * cols;
    const float* gr = dy + r * cols;
    double dot = 0.0;
    for (int64_t j = threadIdx.x; j < cols; j += kRowThreads) dot += static_cast<double>(gr[j]) * yr[j];
    const float d = static_cast<float>(block_sum(dot, scratch));
    for (int64_t j = threadIdx.x; j < cols; j += kRowThreads) dx[r * cols + j] = yr[j] * (gr[j] - d);
  }
}

// out[c] = beta * out[c] + sum_r a[r, c] (out not read when beta == 0); sums in double, rows in order.
__global__ void column_sum_kernel(const float* a, float* out, int64_t rows, int64_t cols, float beta) {
  for (int64_t c = detail::first_index(); c < cols; c += detail::grid_stride()) {
    double s = 0.0;
    for (int64_t r = 0; r < rows; ++r) s += a[r * cols + c];
    out[c] = (beta == 0.0f ? 0.0f : beta * out[c]) + static_cast<float>(s);
  }
}

}  // namespace

bool unary_backward(UnaryOp op, const float* x, const float* dy, float* dx, int64_t n, std::string* error) {
  if (n <= 0) return true;
  return with_unary_op(op, [&](auto tag) {
    unary_backward_kernel<decltype(tag)::value><<<detail::grid_for(n), detail::kThreads, 0, detail::stream()>>>(x, dy, dx, n);
    return detail::launched("unary_backward", error);
  });
}

bool softmax_backward(const float* y, const float* dy, float* dx, int64_t rows, int64_t cols, std::string* error) {
  if (rows <= 0 || cols <= 0) return true;
  softmax_backward_kernel<<<static_cast<unsigned int>(rows < kMaxGridRows ? rows : kMaxGridRows), kRowThreads, 0, detail::stream()>>>(y, dy, dx, rows, cols);
  return detail::launched("softmax_backward", error);
}

bool column_sum(const float* a, float* out, int64_t rows, int64_t cols, float beta, std::string* error) {
  if (cols <= 0) return true;
  column_sum_kernel<<<detail::grid_for(cols), detail::kThreads, 0, detail::stream()>>>(a, out, rows, cols, beta);
  return detail::launched("column_sum", error);
}

}  // namespace cuda
}  // namespace peftjs
