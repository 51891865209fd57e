// Rotary position embedding in place with the semantics of csrc/kernels/rope: HF's float32 steps (inv_freq =
// 1 / theta^(2i/d) as a float, angle = float(position) * inv_freq as a float, cos/sin of that float), one
// thread per (row, rotated pair), looping over the heads so each angle's cos/sin is computed once per row.
// inv_freq is computed on the host by the very expression the CPU kernel uses (std::pow, glibc's powf) and
// passed to the kernel: the device's powf is not correctly rounded, and one ulp of inv_freq moves the angle
// at position 8000 by ~1e-3 rad, far beyond the tolerance. Up to kArgFreqs values travel in the kernel's
// arguments (no copy); a larger rotary_dim uploads them to stream-ordered scratch. RoPE scaling: the caller's
// host inv_freq values (RopeArgs::inv_freq) take the same path; cos/sin are multiplied by attention_factor
// (one float32 rounding, as HF) when it is not 1.
// Precise cosf/sinf (no fast math): at positions in the thousands __cosf's error would exceed the tolerance.
#include <cuda_runtime.h>

#include <cmath>
#include <vector>

#include "common.cuh"
#include "device_api.h"

namespace peftjs {
namespace cuda {
namespace {

constexpr int kArgFreqs = 512;  // 2 KiB of kernel arguments (the limit is 4 KiB)

struct ArgFreqs {
  float v[kArgFreqs];
};

__global__ void rope_kernel(RopeArgs p, ArgFreqs arg_freqs, const float* dev_freqs) {
  const int64_t half = p.rotary_dim / 2;
  const int64_t total = p.rows * half;
  for (int64_t e = detail::first_index(); e < total; e += detail::grid_stride()) {
    const int64_t r = e / half, i = e - r * half;
    const float inv_freq = dev_freqs != nullptr ? dev_freqs[i] : arg_freqs.v[i];
    const float angle = static_cast<float>(p.positions[r]) * inv_freq;
    float cs = cosf(angle), sn = sinf(angle);
    if (p.attention_factor != 1.0f) cs = __fmul_rn(cs, p.attention_factor), sn = __fmul_rn(sn, p.attention_factor);
    if (p.inverse) sn = -sn;
    for (int64_t h = 0; h < p.heads; ++h) {
      float* v = p.x + r * p.row_stride + h * p.head_dim;
      float* lo = p.interleaved ? v + 2 * i : v + i;
      float* hi = p.interleaved ? v + 2 * i + 1 : v + half + i;
      const float a = *lo, b = *hi;
      *lo = __fsub_rn(__fmul_rn(a, cs), __fmul_rn(b, sn));  // no FMA: the CPU's two roundings
      *hi = __fadd_rn(__fmul_rn(b, cs), __fmul_rn(a, sn));
    }
  }
}

}  // namespace

bool rope(const RopeArgs& a, std::string* error) {
  const int64_t half = a.rotary_dim / 2;
  if (half == 0 || a.rows == 0 || a.heads == 0) return true;
  // csrc/kernels/rope/rope.cc's inv_freq, expression for expression, or the caller's (RoPE scaling).
  std::vector<float> inv_freq(static_cast<size_t>(half));
  for (int64_t i = 0; i < half; ++i) {
    if (a.inv_freq != nullptr) {
      inv_freq[static_cast<size_t>(i)] = a.inv_freq[i];
      continue;
    }
    const float e = static_cast<float>(2 * i) / static_cast<float>(a.rotary_dim);
    inv_freq[static_cast<size_t>(i)] = 1.0f / std::pow(a.theta, e);
  }
  ArgFreqs arg{};
  float* dev = nullptr;
  if (half <= kArgFreqs) {
    for (int64_t i = 0; i < half; ++i) arg.v[i] = inv_freq[static_cast<size_t>(i)];
  } else {
    const size_t bytes = static_cast<size_t>(half) * sizeof(float);
    dev = static_cast<float*>(alloc_async(bytes, error));
    if (dev == nullptr) return false;
    if (!upload_async(dev, inv_freq.data(), bytes, error)) {  // pageable: staged before it returns
      free_async(dev, nullptr);
      return false;
    }
  }
  RopeArgs dev_args = a;
  dev_args.inv_freq = nullptr;  // host memory: the values travel in arg / dev
  rope_kernel<<<detail::grid_for(a.rows * half), detail::kThreads, 0, detail::stream()>>>(dev_args, arg, dev);
  const bool ok = detail::launched("rope", error);
  const bool freed = free_async(dev, ok ? error : nullptr);  // stream-ordered: after the kernel has read it
  return ok && freed;
}

}  // namespace cuda
}  // namespace peftjs
