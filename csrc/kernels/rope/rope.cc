// The angles follow HF's float32 arithmetic step by step (inv_freq = 1 / theta^(2i/d) rounded to float,
// angle = float(position) * inv_freq rounded to float, then cos/sin of that float), so results agree
// with PyTorch to ~1e-6 even at positions in the thousands, where a double-precision angle would differ
// from HF's by more than the tolerance. cos/sin are computed once per row and shared by every head.
// RoPE scaling: the caller's inv_freq replaces theta's, and cos/sin are multiplied by attention_factor
// (float32, as HF's cos * attention_scaling) when it is not 1.
#include "rope.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "../../runtime/thread_pool.h"

namespace peftjs {

void rope(const RopeArgs& p) {
  const int64_t half = p.rotary_dim / 2;
  if (half == 0 || p.rows == 0 || p.heads == 0) return;
  std::vector<float> inv_freq(half);
  for (int64_t i = 0; i < half; ++i) {
    if (p.inv_freq != nullptr) {
      inv_freq[i] = p.inv_freq[i];
      continue;
    }
    const float e = static_cast<float>(2 * i) / static_cast<float>(p.rotary_dim);
    inv_freq[i] = 1.0f / std::pow(p.theta, e);
  }
  const float af = p.attention_factor;
  const bool scaled = af != 1.0f;
  const int64_t work_per_row = p.heads * p.rotary_dim + half * 20;  // sincos costs ~20 multiply-adds
  parallel_for(p.rows, std::max<int64_t>(1, (1 << 14) / work_per_row), [&](int64_t r0, int64_t r1) {
    std::vector<float> cs(half), sn(half);
    for (int64_t r = r0; r < r1; ++r) {
      const float pos = static_cast<float>(p.positions[r]);
      for (int64_t i = 0; i < half; ++i) {
        const float angle = pos * inv_freq[i];
        float c = std::cos(angle), s = std::sin(angle);
        if (scaled) c *= af, s *= af;
        cs[i] = c;
        sn[i] = p.inverse ? -s : s;
      }
      for (int64_t h = 0; h < p.heads; ++h) {
        float* v = p.x + r * p.row_stride + h * p.head_dim;
        if (p.interleaved) {
          for (int64_t i = 0; i < half; ++i) {
            const float a = v[2 * i], b = v[2 * i + 1];
            v[2 * i] = a * cs[i] - b * sn[i];
            v[2 * i + 1] = b * cs[i] + a * sn[i];
          }
        } else {
          float* lo = v;
          float* hi = v + half;
          for (int64_t i = 0; i < half; ++i) {
            const float a = lo[i], b = hi[i];
            lo[i] = a * cs[i] - b * sn[i];
            hi[i] = b * cs[i] + a * sn[i];
          }
        }
      }
    }
  });
}

}  // namespace peftjs
