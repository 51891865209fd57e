// Warp and block reductions shared by the CUDA kernels that give a row to a 256-thread block (reduce.cu,
// norm.cu, grad_ops.cu): a fixed shuffle tree, then the warps' partials in order, so the result is the same
// from run to run.
#pragma once

#include <cuda_runtime.h>

namespace peftjs {
namespace cuda {
namespace detail {

constexpr int kWarp = 32;
constexpr int kRowThreads = 256;             // block per row
constexpr int kRowWarps = kRowThreads / kWarp;

struct SumOp {
  __device__ __forceinline__ double operator()(double x, double y) const { return x + y; }
};

template <class T, class Op>
__device__ __forceinline__ T warp_all_reduce(T v, Op op) {
#pragma unroll
  for (int offset = kWarp / 2; offset > 0; offset /= 2) v = op(v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;
}

// Reduces v over the block (blockDim.x == kRowThreads) and returns the result to every thread. scratch
// holds kRowWarps values; the leading barrier makes it safe to call again on the same scratch.
template <class T, class Op>
__device__ __forceinline__ T block_all_reduce(T v, Op op, T* scratch) {
  v = warp_all_reduce(v, op);
  const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp;
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  T r = scratch[0];
#pragma unroll
  for (int w = 1; w < kRowWarps; ++w) r = op(r, scratch[w]);
  return r;
}

// The block's sum of v in double (a row's statistics).
__device__ __forceinline__ double block_sum(double v, double* scratch) { return block_all_reduce(v, SumOp(), scratch); }

}  // namespace detail
}  // namespace cuda
}  // namespace peftjs
