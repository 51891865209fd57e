// Per-thread pieces of column_ops.cc: acc[c] += the column sums (or column dots) of `rows` rows
// starting at a (and b). The AVX2 versions fold eight rows per pass over acc.
#pragma once

#include <cstdint>

namespace peftjs {

void column_sums_rows_scalar(const float* a, int64_t rows, int64_t cols, float* acc);
void column_dot_rows_scalar(const float* a, const float* b, int64_t rows, int64_t cols, float* acc);
void column_sums_rows_avx2(const float* a, int64_t rows, int64_t cols, float* acc);
void column_dot_rows_avx2(const float* a, const float* b, int64_t rows, int64_t cols, float* acc);

}  // namespace peftjs
