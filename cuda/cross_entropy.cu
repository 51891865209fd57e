// Fused softmax cross-entropy with the semantics of csrc/kernels/cross_entropy: one 256-thread block per row;
// the row's max, then the sum of exp(x - max) in double combined by a fixed tree (the same result every run),
// lse = max + log(sum); the loss is lse - x[target], 0 for an ignored row. The backward writes
// exp(x - lse) * scale and subtracts scale at the target; an ignored row is all zeros.
#include <cuda_runtime.h>

#include <cmath>

#include "block_reduce.cuh"
#include "common.cuh"
#include "device_api.h"

namespace peftjs {
namespace cuda {
namespace {

using detail::kRowThreads;
using detail::kRowWarps;
constexpr int64_t kMaxGridRows = 1 << 20;

struct MaxOp {
  __device__ __forceinline__ float operator()(float x, float y) const { return fmaxf(x, y); }
};

unsigned int row_grid(int64_t rows) { return static_cast<unsigned int>(rows < kMaxGridRows ? rows : kMaxGridRows); }

__global__ void __launch_bounds__(kRowThreads) forward_rows(const float* logits, const int32_t* targets, int64_t rows,
                                                            int64_t vocab, int32_t ignore_index, float* losses, float* lse) {
  __shared__ double dscratch[kRowWarps];
  __shared__ float fscratch[kRowWarps];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* x = logits + r * vocab;
    float m = -INFINITY;
    // fmaxf skips a NaN logit, but exp(NaN - m) makes the sum, lse and loss NaN, as on the CPU.
    for (int64_t j = threadIdx.x; j < vocab; j += kRowThreads) m = fmaxf(m, x[j]);
    m = detail::block_all_reduce(m, MaxOp(), fscratch);
    double s = 0.0;
    for (int64_t j = threadIdx.x; j < vocab; j += kRowThreads) s += static_cast<double>(expf(x[j] - m));
    const float l = m + static_cast<float>(log(detail::block_sum(s, dscratch)));
    if (threadIdx.x == 0) {
      lse[r] = l;
      const int32_t t = targets[r];
      losses[r] = t == ignore_index ? 0.0f : l - x[t];
    }
  }
}

__global__ void __launch_bounds__(kRowThreads) backward_rows(const float* logits, const int32_t* targets, const float* lse,
                                                             int64_t rows, int64_t vocab, int32_t ignore_index,
                                                             float grad_scale, float* dlogits) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* x = logits + r * vocab;
    float* out = dlogits + r * vocab;
    const int32_t t = targets[r];
    if (t == ignore_index) {
      for (int64_t j = threadIdx.x; j < vocab; j += kRowThreads) out[j] = 0.0f;
      continue;
    }
    const float l = lse[r];
    for (int64_t j = threadIdx.x; j < vocab; j += kRowThreads) {
      const float g = __fmul_rn(expf(x[j] - l), grad_scale);  // rounded before the subtraction (no FMA), as the CPU
      out[j] = j == t ? __fsub_rn(g, grad_scale) : g;
    }
  }
}

}  // namespace

bool cross_entropy_forward(const float* logits, const int32_t* targets, int64_t rows, int64_t vocab, int32_t ignore_index,
                           float* losses, float* lse, std::string* error) {
  if (rows == 0) return true;
  forward_rows<<<row_grid(rows), kRowThreads, 0, detail::stream()>>>(logits, targets, rows, vocab, ignore_index, losses, lse);
  return detail::launched("cross_entropy_forward", error);
}

bool cross_entropy_backward(const float* logits, const int32_t* targets, const float* lse, int64_t rows, int64_t vocab,
                            int32_t ignore_index, float grad_scale, float* dlogits, std::string* error) {
  if (rows == 0) return true;
  backward_rows<<<row_grid(rows), kRowThreads, 0, detail::stream()>>>(logits, targets, lse, rows, vocab, ignore_index,
                                                                      grad_scale, dlogits);
  return detail::launched("cross_entropy_backward", error);
}

}  // namespace cuda
}  // namespace peftjs
