// Row-wise reductions and softmax over the last dimension of a contiguous [rows, cols] matrix.
#pragma once

#include <cstdint>

namespace peftjs {

enum class ReduceOp { Sum, Max, Mean };

// out[r] = reduce(a[r, :]). cols == 0 gives 0 for sum and mean, -inf for max.
void row_reduce(ReduceOp op, const float* a, float* out, int64_t rows, int64_t cols);
// out[r, :] = softmax(a[r, :]), max-subtracted for stability. out may alias a.
void softmax_rows(const float* a, float* out, int64_t rows, int64_t cols);

}  // namespace peftjs
