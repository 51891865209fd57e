// Gathers a strided view into contiguous memory (what makes a transposed or sliced tensor contiguous).
#pragma once

#include <cstdint>

namespace peftjs {

// dst[flat index] = src[sum_d idx_d * strides[d]] over the row-major iteration of `shape`.
void strided_copy(const float* src, float* dst, const int64_t* shape, const int64_t* strides, int ndim);

// The inverse of strided_copy: contiguous src written into the view (shape, strides) at dst. The view must
// not overlap itself (each destination element written once).
void strided_scatter(const float* src, float* dst, const int64_t* shape, const int64_t* strides, int ndim);

}  // namespace peftjs
