// Philox4x32-10 random fills, bit for bit the generator of csrc/kernels/random/random.cc: element i of a fill
// is lane (offset + i) & 3 of the block for counter (offset + i) >> 2, keyed by the 64-bit seed. Each
// thread computes one Philox block and writes the (up to) four elements of it that fall in the fill.
// Uniform is the CPU's float arithmetic exactly; normal is Box-Muller in double like the CPU, with
// CUDA's double log/sqrt/sin/cos (correctly rounded sqrt; log/sin/cos within 1-2 ulp of double, far
// below the float rounding of the result).
#include <cuda_runtime.h>

#include "common.cuh"
#include "philox.cuh"
#include "device_api.h"

namespace peftjs {
namespace cuda {
namespace {

// The Philox blocks a fill touches: block `first + t` covers stream indices [4 (first + t), 4 (first + t) + 4),
// of which those in [offset, offset + n) land at out[index - offset].
struct Span {
  uint64_t first_block;
  int64_t blocks;
};

Span span_of(int64_t n, uint64_t offset) {
  const uint64_t first = offset >> 2;
  const uint64_t last = (offset + static_cast<uint64_t>(n) - 1) >> 2;
  return {first, static_cast<int64_t>(last - first + 1)};
}

__global__ void uniform_kernel(float* out, int64_t n, uint64_t seed, uint64_t offset, Span span, float low,
                               float high) {
  const float range = high - low;
  const uint64_t end = offset + static_cast<uint64_t>(n);
  for (int64_t t = detail::first_index(); t < span.blocks; t += detail::grid_stride()) {
    const uint64_t block = span.first_block + static_cast<uint64_t>(t);
    const detail::PhiloxWords r = detail::philox4x32(block, seed);
#pragma unroll
    for (int lane = 0; lane < 4; ++lane) {
      const uint64_t index = block * 4 + lane;
      if (index < offset || index >= end) continue;
      // bits_to_uniform: (x >> 8) * 2^-24, exact in float; then low + (high - low) * u, rounded per step.
      const float u = static_cast<float>(r.v[lane] >> 8) * (1.0f / 16777216.0f);
      out[index - offset] = __fadd_rn(low, __fmul_rn(range, u));
    }
  }
}

__global__ void normal_kernel(float* out, int64_t n, uint64_t seed, uint64_t offset, Span span, float mean,
                              float std) {
  constexpr double kTwoPi = 6.283185307179586;
  const uint64_t end = offset + static_cast<uint64_t>(n);
  for (int64_t t = detail::first_index(); t < span.blocks; t += detail::grid_stride()) {
    const uint64_t block = span.first_block + static_cast<uint64_t>(t);
    const detail::PhiloxWords r = detail::philox4x32(block, seed);
#pragma unroll
    for (int lane = 0; lane < 4; ++lane) {
      const uint64_t index = block * 4 + lane;
      if (index < offset || index >= end) continue;
      const int pair = lane & 2;
      // u1 in (0, 1] so the log is finite; u2 in [0, 1). Each product is rounded on its own (no FMA),
      // as in the CPU's double arithmetic.
      const double u1 = (static_cast<double>(r.v[pair] >> 8) + 1.0) / 16777216.0;
      const double u2 = static_cast<double>(r.v[pair + 1] >> 8) / 16777216.0;
      const double radius = sqrt(__dmul_rn(-2.0, log(u1)));
      const double angle = __dmul_rn(kTwoPi, u2);
      const double z = (lane & 1) ? __dmul_rn(radius, sin(angle)) : __dmul_rn(radius, cos(angle));
      out[index - offset] = static_cast<float>(__dadd_rn(static_cast<double>(mean), __dmul_rn(static_cast<double>(std), z)));
    }
  }
}

}  // namespace

bool random_uniform(float* out, int64_t n, uint64_t seed, uint64_t offset, float low, float high,
                    std::string* error) {
  if (n <= 0) return true;
  const Span span = span_of(n, offset);
  uniform_kernel<<<detail::grid_for(span.blocks), detail::kThreads, 0, detail::stream()>>>(out, n, seed, offset, span, low, high);
  return detail::launched("random_uniform", error);
}

bool random_normal(float* out, int64_t n, uint64_t seed, uint64_t offset, float mean, float std,
                   std::string* error) {
  if (n <= 0) return true;
  const Span span = span_of(n, offset);
  normal_kernel<<<detail::grid_for(span.blocks), detail::kThreads, 0, detail::stream()>>>(out, n, seed, offset, span, mean, std);
  return detail::launched("random_normal", error);
}

}  // namespace cuda
}  // namespace peftjs
