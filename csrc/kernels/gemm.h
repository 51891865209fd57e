// Single-precision GEMM on row-major matrices:
//   C[m, n] = alpha * sum_k op(A)[m, k] * op(B)[k, n] + beta * C[m, n] + bias[n]
// op(A) = A [m, k] (lda >= k), or A^T with A stored [k, m] (lda >= m) when trans_a; likewise op(B).
// beta == 0 means C is write-only (it may hold NaN garbage). bias may be null.
#pragma once

#include <cstdint>

namespace peftjs {

struct GemmArgs {
  bool trans_a = false;
  bool trans_b = false;
  int64_t m = 0, n = 0, k = 0;
  float alpha = 1.0f;
  const float* a = nullptr;
  int64_t lda = 0;
  const float* b = nullptr;
  int64_t ldb = 0;
  float beta = 0.0f;
  float* c = nullptr;
  int64_t ldc = 0;
  const float* bias = nullptr;
};

void gemm(const GemmArgs& args);

}  // namespace peftjs
