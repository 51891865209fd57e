// Row reductions written so that -O3 vectorizes them without -ffast-math: eight independent float
// accumulators (a fixed reassociation the compiler may keep in one vector register), summed in double.
#pragma once

#include <cstdint>

namespace peftjs {

inline double vdot(const float* a, const float* b, int64_t n) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t j = 0;
  for (; j + 8 <= n; j += 8)
    for (int k = 0; k < 8; ++k) acc[k] += a[j + k] * b[j + k];
  double s = 0.0;
  for (int k = 0; k < 8; ++k) s += acc[k];
  for (; j < n; ++j) s += static_cast<double>(a[j]) * b[j];
  return s;
}

inline double vsum(const float* a, int64_t n) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t j = 0;
  for (; j + 8 <= n; j += 8)
    for (int k = 0; k < 8; ++k) acc[k] += a[j + k];
  double s = 0.0;
  for (int k = 0; k < 8; ++k) s += acc[k];
  for (; j < n; ++j) s += a[j];
  return s;
}

// sum_j (a[j] - shift)^2: the variance's numerator, two-pass (x - mean) for accuracy.
inline double vsum_sq_centered(const float* a, float shift, int64_t n) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t j = 0;
  for (; j + 8 <= n; j += 8)
    for (int k = 0; k < 8; ++k) {
      const float d = a[j + k] - shift;
      acc[k] += d * d;
    }
  double s = 0.0;
  for (int k = 0; k < 8; ++k) s += acc[k];
  for (; j < n; ++j) s += static_cast<double>(a[j] - shift) * (a[j] - shift);
  return s;
}

}  // namespace peftjs
