// Row reductions and softmax with the semantics of csrc/kernels/reduce/reduce.cc. Rows of up to kWarpRowMax
// columns go one warp per row (8 rows per block); longer rows one 256-thread block per row. Sums are
// accumulated in double per thread and combined by a fixed-shape tree (deterministic from run to run).
// Max propagates NaN like the CPU's (x > m || isnan(x)).
#include <cuda_runtime.h>

#include <cmath>

#include "block_reduce.cuh"
#include "common.cuh"
#include "device_api.h"

namespace peftjs {
namespace cuda {
namespace {

using detail::block_all_reduce;
using detail::kRowThreads;
using detail::kRowWarps;
using detail::kWarp;
using detail::SumOp;
using detail::warp_all_reduce;

constexpr int kWarpRowsPerBlock = 8;         // warp per row: 8 warps = 256 threads per block
constexpr int64_t kWarpRowMax = 1024;        // longest row handled by one warp
constexpr int64_t kMaxGridRows = 1 << 20;    // blocks in x; rows beyond loop (grid-stride over rows)

struct MaxOp {  // NaN in either operand wins
  __device__ __forceinline__ float operator()(float m, float x) const { return (x > m || isnan(x)) ? x : m; }
};

// Writes a row's result from its double sum or its max, as reduce.cc computes it.
template <ReduceOp OP>
__device__ __forceinline__ void store_reduction(float* out, int64_t cols, double sum, float max) {
  if constexpr (OP == ReduceOp::Sum) *out = static_cast<float>(sum);
  else if constexpr (OP == ReduceOp::Mean) *out = cols == 0 ? 0.0f : static_cast<float>(sum / static_cast<double>(cols));
  else *out = max;
}

template <ReduceOp OP>
__global__ void __launch_bounds__(kRowThreads) reduce_warp_rows(const float* a, float* out, int64_t rows, int64_t cols) {
  const int lane = threadIdx.x % kWarp;
  const int64_t first = static_cast<int64_t>(blockIdx.x) * kWarpRowsPerBlock + threadIdx.x / kWarp;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * kWarpRowsPerBlock;
  for (int64_t r = first; r < rows; r += stride) {  // uniform per warp
    const float* x = a + r * cols;
    if constexpr (OP == ReduceOp::Max) {
      float m = -INFINITY;
      for (int64_t j = lane; j < cols; j += kWarp) m = MaxOp()(m, x[j]);
      m = warp_all_reduce(m, MaxOp());
      if (lane == 0) store_reduction<OP>(out + r, cols, 0.0, m);
    } else {
      double s = 0.0;
      for (int64_t j = lane; j < cols; j += kWarp) s += static_cast<double>(x[j]);
      s = warp_all_reduce(s, SumOp());
      if (lane == 0) store_reduction<OP>(out + r, cols, s, 0.0f);
    }
  }
}

template <ReduceOp OP>
__global__ void __launch_bounds__(kRowThreads) reduce_block_rows(const float* a, float* out, int64_t rows, int64_t cols) {
  __shared__ double sum_scratch[kRowWarps];
  __shared__ float max_scratch[kRowWarps];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {  // uniform per block
    const float* x = a + r * cols;
    if constexpr (OP == ReduceOp::Max) {
      float m = -INFINITY;
      for (int64_t j = threadIdx.x; j < cols; j += kRowThreads) m = MaxOp()(m, x[j]);
      m = block_all_reduce(m, MaxOp(), max_scratch);
      if (threadIdx.x == 0) store_reduction<OP>(out + r, cols, 0.0, m);
    } else {
      double s = 0.0;
      for (int64_t j = threadIdx.x; j < cols; j += kRowThreads) s += static_cast<double>(x[j]);
      s = block_all_reduce(s, SumOp(), sum_scratch);
      if (threadIdx.x == 0) store_reduction<OP>(out + r, cols, s, 0.0f);
    }
  }
}

// softmax of one row: y = exp(x - max) / sum, computed as the CPU does: y[j] = expf(x[j] - m) in float,
// the sum of those floats in double, then y[j] *= (float)(1 / sum). Each thread rewrites exactly the
// elements it read, so out may alias a.
__global__ void __launch_bounds__(kRowThreads) softmax_warp_rows(const float* a, float* out, int64_t rows, int64_t cols) {
  const int lane = threadIdx.x % kWarp;
  const int64_t first = static_cast<int64_t>(blockIdx.x) * kWarpRowsPerBlock + threadIdx.x / kWarp;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * kWarpRowsPerBlock;
  for (int64_t r = first; r < rows; r += stride) {
    const float* x = a + r * cols;
    float* y = out + r * cols;
    float m = -INFINITY;
    for (int64_t j = lane; j < cols; j += kWarp) m = MaxOp()(m, x[j]);
    m = warp_all_reduce(m, MaxOp());
    double s = 0.0;
    for (int64_t j = lane; j < cols; j += kWarp) {
      const float e = expf(x[j] - m);
      y[j] = e;
      s += static_cast<double>(e);
    }
    s = warp_all_reduce(s, SumOp());
    const float inv = static_cast<float>(1.0 / s);
    for (int64_t j = lane; j < cols; j += kWarp) y[j] *= inv;
  }
}

__global__ void __launch_bounds__(kRowThreads) softmax_block_rows(const float* a, float* out, int64_t rows, int64_t cols) {
  __shared__ double sum_scratch[kRowWarps];
  __shared__ float max_scratch[kRowWarps];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* x = a + r * cols;
    float* y = out + r * cols;
    float m = -INFINITY;
    for (int64_t j = threadIdx.x; j < cols; j += kRowThreads) m = MaxOp()(m, x[j]);
    m = block_all_reduce(m, MaxOp(), max_scratch);
    double s = 0.0;
    for (int64_t j = threadIdx.x; j < cols; j += kRowThreads) {
      const float e = expf(x[j] - m);
      y[j] = e;
      s += static_cast<double>(e);
    }
    s = block_all_reduce(s, SumOp(), sum_scratch);
    const float inv = static_cast<float>(1.0 / s);
    for (int64_t j = threadIdx.x; j < cols; j += kRowThreads) y[j] *= inv;
  }
}

unsigned int warp_row_blocks(int64_t rows) {
  const int64_t blocks = (rows + kWarpRowsPerBlock - 1) / kWarpRowsPerBlock;
  return static_cast<unsigned int>(blocks < kMaxGridRows ? blocks : kMaxGridRows);
}

unsigned int block_row_blocks(int64_t rows) {
  return static_cast<unsigned int>(rows < kMaxGridRows ? rows : kMaxGridRows);
}

template <ReduceOp OP>
bool launch_reduce(const float* a, float* out, int64_t rows, int64_t cols, std::string* error) {
  if (cols <= kWarpRowMax) {
    reduce_warp_rows<OP><<<warp_row_blocks(rows), kRowThreads, 0, detail::stream()>>>(a, out, rows, cols);
  } else {
    reduce_block_rows<OP><<<block_row_blocks(rows), kRowThreads, 0, detail::stream()>>>(a, out, rows, cols);
  }
  return detail::launched("row_reduce", error);
}

}  // namespace

bool row_reduce(ReduceOp op, const float* a, float* out, int64_t rows, int64_t cols, std::string* error) {
  if (rows <= 0) return true;
  if (cols < 0) {
    if (error) *error = "row_reduce: negative column count";
    return false;
  }
  switch (op) {
    case ReduceOp::Sum: return launch_reduce<ReduceOp::Sum>(a, out, rows, cols, error);
    case ReduceOp::Max: return launch_reduce<ReduceOp::Max>(a, out, rows, cols, error);
    case ReduceOp::Mean: return launch_reduce<ReduceOp::Mean>(a, out, rows, cols, error);
  }
  if (error) *error = "row_reduce: unknown op";
  return false;
}

bool softmax_rows(const float* a, float* out, int64_t rows, int64_t cols, std::string* error) {
  if (rows <= 0 || cols <= 0) return true;
  if (cols <= kWarpRowMax) {
    softmax_warp_rows<<<warp_row_blocks(rows), kRowThreads, 0, detail::stream()>>>(a, out, rows, cols);
  } else {
    softmax_block_rows<<<block_row_blocks(rows), kRowThreads, 0, detail::stream()>>>(a, out, rows, cols);
  }
  return detail::launched("softmax_rows", error);
}

}  // namespace cuda
}  // namespace peftjs
