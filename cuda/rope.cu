// Rotary position embedding in place with the semantics of csrc/kernels/rope: HF's float32 steps (inv_freq =
// 1 / theta^(2i/d) as a float, angle = float(position) * inv_freq as a float, cos/sin of that float), one
// thread per (row, rotated pair), looping over the heads so each angle's cos/sin is computed once per row.
// Precise cosf/sinf (no fast math): at positions in the thousands __cosf's error would exceed the tolerance.
#include <cuda_runtime.h>

#include "common.cuh"
#include "device_api.h"

namespace peftjs {
namespace cuda {
namespace {

__global__ void rope_kernel(RopeArgs p) {
  const int64_t half = p.rotary_dim / 2;
  const int64_t total = p.rows * half;
  for (int64_t e = detail::first_index(); e < total; e += detail::grid_stride()) {
    const int64_t r = e / half, i = e - r * half;
    const float ex = static_cast<float>(2 * i) / static_cast<float>(p.rotary_dim);
    const float inv_freq = 1.0f / powf(p.theta, ex);
    const float angle = static_cast<float>(p.positions[r]) * inv_freq;
    const float cs = cosf(angle);
    const float sn = p.inverse ? -sinf(angle) : sinf(angle);
    for (int64_t h = 0; h < p.heads; ++h) {
      float* v = p.x + r * p.row_stride + h * p.head_dim;
      float* lo = p.interleaved ? v + 2 * i : v + i;
      float* hi = p.interleaved ? v + 2 * i + 1 : v + half + i;
      const float a = *lo, b = *hi;
      *lo = a * cs - b * sn;
      *hi = b * cs + a * sn;
    }
  }
}

}  // namespace

bool rope(const RopeArgs& a, std::string* error) {
  const int64_t half = a.rotary_dim / 2;
  if (half == 0 || a.rows == 0 || a.heads == 0) return true;
  rope_kernel<<<detail::grid_for(a.rows * half), detail::kThreads, 0, detail::stream()>>>(a);
  return detail::launched("rope", error);
}

}  // namespace cuda
}  // namespace peftjs
