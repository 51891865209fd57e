// The two inner operations of the attention tiles, built once per CPU path: a small row-major product
// and the shifted exponential of a row of scores.
#pragma once

#include <cstdint>

namespace peftjs {

struct AttentionBlockOps {
  // C[m, n] = (accumulate ? C : 0) + A[m, k] B[k, n], all row-major with leading dimensions. n is the
  // vectorized dimension (keys of a tile, or head_dim), so B's rows are read contiguously.
  void (*matmul)(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb, float* c,
                 int64_t ldc, bool accumulate);
  // p[j] = exp(s[j] - shift), and exactly 0 where s[j] is -inf (a hidden key); returns the sum of p.
  // shift is finite.
  float (*exp_shifted)(const float* s, int64_t n, float shift, float* p);
  // dst[c * ld + r] = mul * src[r * stride + c] for r < rows, c < cols: K^T (and V^T) panels.
  void (*transpose)(const float* src, int64_t stride, int64_t rows, int64_t cols, float mul, float* dst, int64_t ld);
  // max of s[0, n) (-inf for a row of hidden keys; NaN when any s[j] is NaN); n >= 1.
  float (*row_max)(const float* s, int64_t n);
};

AttentionBlockOps attention_block_ops_scalar();
AttentionBlockOps attention_block_ops_avx2();

}  // namespace peftjs
