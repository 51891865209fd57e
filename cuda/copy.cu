// Strided gather of an N-d view into contiguous memory, and its inverse, the scatter of contiguous memory
// into a view (csrc/kernels/copy/copy.cc: strided_copy, strided_scatter). The host first drops
// size-1 dimensions and merges dimensions that are contiguous with the next one (stride[d] ==
// shape[d+1] * stride[d+1]), which keeps the row-major order of the elements; the kernel then maps each
// flat output index to its source offset by peeling off the remaining dimensions, in 32-bit arithmetic
// when every index fits.
#include <cuda_runtime.h>

#include <cstdint>

#include "common.cuh"
#include "device_api.h"

namespace peftjs {
namespace cuda {
namespace {

constexpr int kMaxDims = 16;

// The view, passed to the kernel by value (shape and strides arrive as host arrays).
template <typename Index>
struct View {
  int ndim;
  Index shape[kMaxDims];
  Index strides[kMaxDims];
};

// kScatter false: dst[i] = src[view offset of i]; true: dst[view offset of i] = src[i].
template <typename Index, bool kScatter>
__global__ void strided_copy_kernel(const float* __restrict__ src, float* __restrict__ dst, Index total,
                                    View<Index> view) {
  const Index stride = static_cast<Index>(gridDim.x) * blockDim.x;
  for (Index i = static_cast<Index>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride) {
    Index rem = i, offset = 0;
    for (int d = view.ndim - 1; d > 0; --d) {
      const Index extent = view.shape[d];
      const Index q = rem / extent;
      offset += (rem - q * extent) * view.strides[d];
      rem = q;
    }
    if (view.ndim > 0) offset += rem * view.strides[0];
    if (kScatter) dst[offset] = src[i];
    else dst[i] = src[offset];
  }
}

template <typename Index, bool kScatter>
bool launch(const float* src, float* dst, int64_t total, const int64_t* shape, const int64_t* strides, int ndim,
            std::string* error) {
  View<Index> view{};
  view.ndim = ndim;
  for (int d = 0; d < ndim; ++d) {
    view.shape[d] = static_cast<Index>(shape[d]);
    view.strides[d] = static_cast<Index>(strides[d]);
  }
  strided_copy_kernel<Index, kScatter><<<detail::grid_for(total), detail::kThreads, 0, detail::stream()>>>(src, dst, static_cast<Index>(total), view);
  return detail::launched(kScatter ? "strided_scatter" : "strided_copy", error);
}

// Both directions: the view simplified, then the kernel in 32- or 64-bit indices.
template <bool kScatter>
bool strided(const float* src, float* dst, const int64_t* shape, const int64_t* strides, int ndim, std::string* error) {
  if (ndim < 0 || ndim > kMaxDims) {
    if (error) *error = std::string(kScatter ? "strided_scatter" : "strided_copy") + ": ndim must be in [0, 16], got " + std::to_string(ndim);
    return false;
  }
  int64_t total = 1;
  for (int d = 0; d < ndim; ++d) total *= shape[d];
  if (total == 0) return true;

  // Simplify the view: drop size-1 dimensions, merge a dimension into the previous kept one when the
  // previous one steps exactly over it.
  int64_t sh[kMaxDims], st[kMaxDims];
  int nd = 0;
  for (int d = 0; d < ndim; ++d) {
    if (shape[d] == 1) continue;
    if (nd > 0 && st[nd - 1] == shape[d] * strides[d]) {
      sh[nd - 1] *= shape[d];
      st[nd - 1] = strides[d];
    } else {
      sh[nd] = shape[d];
      st[nd] = strides[d];
      ++nd;
    }
  }
  // nd == 0: a single element (every dimension 1, or ndim == 0), read at offset 0 as on the CPU.

  // 32-bit indices when the element count and the largest source offset fit (and no stride is negative).
  int64_t max_offset = 0;
  bool negative = false;
  for (int d = 0; d < nd; ++d) {
    max_offset += (sh[d] - 1) * st[d];
    negative = negative || st[d] < 0;
  }
  if (!negative && total <= INT32_MAX && max_offset <= INT32_MAX) return launch<uint32_t, kScatter>(src, dst, total, sh, st, nd, error);
  return launch<int64_t, kScatter>(src, dst, total, sh, st, nd, error);
}

}  // namespace

bool strided_copy(const float* src, float* dst, const int64_t* shape, const int64_t* strides, int ndim, std::string* error) {
  return strided<false>(src, dst, shape, strides, ndim, error);
}

bool strided_scatter(const float* src, float* dst, const int64_t* shape, const int64_t* strides, int ndim, std::string* error) {
  return strided<true>(src, dst, shape, strides, ndim, error);
}

}  // namespace cuda
}  // namespace peftjs
