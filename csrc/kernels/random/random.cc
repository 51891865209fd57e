#include "random.h"

#include <algorithm>
#include <cmath>

#include "../../runtime/thread_pool.h"
#include "../simd/dispatch.h"

namespace peftjs {

Philox4 philox4x32(uint64_t counter, uint64_t key) {
  uint32_t c0 = static_cast<uint32_t>(counter), c1 = static_cast<uint32_t>(counter >> 32), c2 = 0, c3 = 0;
  uint32_t k0 = static_cast<uint32_t>(key), k1 = static_cast<uint32_t>(key >> 32);
  for (int round = 0; round < 10; ++round) {
    const uint64_t p0 = uint64_t{0xD2511F53u} * c0;
    const uint64_t p1 = uint64_t{0xCD9E8D57u} * c2;
    const uint32_t n0 = static_cast<uint32_t>(p1 >> 32) ^ c1 ^ k0;
    const uint32_t n1 = static_cast<uint32_t>(p1);
    const uint32_t n2 = static_cast<uint32_t>(p0 >> 32) ^ c3 ^ k1;
    const uint32_t n3 = static_cast<uint32_t>(p0);
    c0 = n0, c1 = n1, c2 = n2, c3 = n3;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return {{c0, c1, c2, c3}};
}

uint32_t random_bits(uint64_t seed, uint64_t index) { return philox4x32(index >> 2, seed).v[index & 3]; }

void random_bits_fill_scalar(uint64_t seed, uint64_t offset, int64_t n, uint32_t* out) {
  for (int64_t i = 0; i < n;) {
    const Philox4 block = philox4x32((offset + i) >> 2, seed);
    for (int lane = static_cast<int>((offset + i) & 3); lane < 4 && i < n; ++lane, ++i) out[i] = block.v[lane];
  }
}

void random_bits_fill(uint64_t seed, uint64_t offset, int64_t n, uint32_t* out) {
  for_cpu_path(random_bits_fill_scalar, random_bits_fill_avx2)(seed, offset, n, out);
}

void random_uniform(float* out, int64_t n, uint64_t seed, uint64_t offset, float low, float high) {
  parallel_for(n, 1 << 14, [&](int64_t s, int64_t e) {
    uint32_t bits[1024];
    for (int64_t i0 = s; i0 < e; i0 += 1024) {
      const int64_t len = std::min<int64_t>(1024, e - i0);
      random_bits_fill(seed, offset + i0, len, bits);
      for (int64_t j = 0; j < len; ++j) out[i0 + j] = low + (high - low) * bits_to_uniform(bits[j]);
    }
  });
}

void random_normal(float* out, int64_t n, uint64_t seed, uint64_t offset, float mean, float std) {
  constexpr double kTwoPi = 6.283185307179586;
  parallel_for(n, 1 << 13, [&](int64_t s, int64_t e) {
    for (int64_t i = s; i < e; ++i) {
      const uint64_t index = offset + i;
      const Philox4 r = philox4x32(index >> 2, seed);
      const int lane = static_cast<int>(index & 3);
      const int pair = lane & 2;
      // u1 in (0, 1] so the log is finite; u2 in [0, 1).
      const double u1 = (static_cast<double>(r.v[pair] >> 8) + 1.0) / 16777216.0;
      const double u2 = static_cast<double>(r.v[pair + 1] >> 8) / 16777216.0;
      const double radius = std::sqrt(-2.0 * std::log(u1));
      const double z = (lane & 1) ? radius * std::sin(kTwoPi * u2) : radius * std::cos(kTwoPi * u2);
      out[i] = static_cast<float>(mean + std * z);
    }
  });
}

}  // namespace peftjs
