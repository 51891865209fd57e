// The counter RNG on the device: Philox4x32-10 exactly as csrc/kernels/random/random.cc computes it (the
// multiply's high word via __umulhi), so random fills, dropout masks and hard-concrete gates drawn on the GPU
// are bit for bit the CPU's. Stream index i is lane i & 3 of the block for counter i >> 2, keyed by the seed.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace peftjs {
namespace cuda {
namespace detail {

struct PhiloxWords {
  uint32_t v[4];
};

__device__ __forceinline__ PhiloxWords philox4x32(uint64_t counter, uint64_t key) {
  uint32_t c0 = static_cast<uint32_t>(counter), c1 = static_cast<uint32_t>(counter >> 32), c2 = 0, c3 = 0;
  uint32_t k0 = static_cast<uint32_t>(key), k1 = static_cast<uint32_t>(key >> 32);
#pragma unroll
  for (int round = 0; round < 10; ++round) {
    const uint32_t hi0 = __umulhi(0xD2511F53u, c0), lo0 = 0xD2511F53u * c0;
    const uint32_t hi1 = __umulhi(0xCD9E8D57u, c2), lo1 = 0xCD9E8D57u * c2;
    const uint32_t n0 = hi1 ^ c1 ^ k0;
    const uint32_t n1 = lo1;
    const uint32_t n2 = hi0 ^ c3 ^ k1;
    const uint32_t n3 = lo0;
    c0 = n0, c1 = n1, c2 = n2, c3 = n3;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return {{c0, c1, c2, c3}};
}

// The word at stream index i.
__device__ __forceinline__ uint32_t philox_word(uint64_t index, uint64_t key) {
  return philox4x32(index >> 2, key).v[index & 3];
}

}  // namespace detail
}  // namespace cuda
}  // namespace peftjs
