// Column-wise reductions and scalings of a row-major [rows, cols] matrix: the pieces BitFit and (IA)3
// add to a linear layer. Reductions sum per-task partials in double-free float; rows split over threads.
#pragma once

#include <cstdint>

namespace peftjs {

// out[c] = sum_r a[r, c]      (BitFit's bias gradient from dy)
void column_sums(const float* a, int64_t rows, int64_t cols, float* out);
// out[c] = sum_r a[r, c] * b[r, c]   (IA3's dl from dy and the pre-scaling output)
void column_dot(const float* a, const float* b, int64_t rows, int64_t cols, float* out);
// out[r, c] = a[r, c] * v[c]   (IA3 scaling; out may alias a)
void scale_columns(const float* a, const float* v, int64_t rows, int64_t cols, float* out);

}  // namespace peftjs
