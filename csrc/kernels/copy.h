// Gathers a strided view into contiguous memory (what makes a transposed or sliced tensor contiguous).
#pragma once

#include <cstdint>

namespace peftjs {

// dst[flat index] = src[sum_d idx_d * strides[d]] over the row-major iteration of `shape`.
void strided_copy(const float* src, float* dst, const int64_t* shape, const int64_t* strides, int ndim);

}  // namespace peftjs
