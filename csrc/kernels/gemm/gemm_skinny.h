// C[m, n] = A[m, k] B[n, k]^T with n <= kSkinnyMax (LoRA's u = x A^T with r <= 8, a classifier head),
// which the packed driver serves badly: its 4 x 24 tiles would be two-thirds padding, and packing A
// costs as much as the multiplication. Here A is streamed once, unpacked, as dot products along k.
// alpha, beta and bias as in gemm(); no second segment, no post-epilogue.
// (The transposed twin, dA = g^T x with m = r, was tried the same way: no faster than the driver at
// 768 columns and slower at 4096, where its strided 24-column strips of B defeat the prefetcher.)
#pragma once

#include "gemm.h"

namespace peftjs {

// Past 8 columns the driver is as fast (measured at n = 16).
constexpr int64_t kSkinnyMax = 8;

// Runs the skinny kernel when `g` has that shape and the CPU has AVX2; false otherwise (nothing written).
bool gemm_skinny(const GemmArgs& g);

}  // namespace peftjs
