// The portable attention tile operations: plain loops (the i-p-j order lets the compiler vectorize over
// B's rows with whatever the baseline instruction set offers).
#include <cmath>
#include <limits>

#include "attention_block.h"

namespace peftjs {
namespace {

void matmul_scalar(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb, float* c,
                   int64_t ldc, bool accumulate) {
  for (int64_t i = 0; i < m; ++i) {
    float* ci = c + i * ldc;
    if (!accumulate)
      for (int64_t j = 0; j < n; ++j) ci[j] = 0.0f;
    for (int64_t p = 0; p < k; ++p) {
      const float aip = a[i * lda + p];
      const float* bp = b + p * ldb;
      for (int64_t j = 0; j < n; ++j) ci[j] += aip * bp[j];
    }
  }
}

float exp_shifted_scalar(const float* s, int64_t n, float shift, float* p) {
  const float hidden = -std::numeric_limits<float>::infinity();
  float sum = 0.0f;
  for (int64_t j = 0; j < n; ++j) {
    p[j] = s[j] == hidden ? 0.0f : std::exp(s[j] - shift);
    sum += p[j];
  }
  return sum;
}

float row_max_scalar(const float* s, int64_t n) {
  float m = s[0];
  bool nan = std::isnan(s[0]);
  for (int64_t j = 1; j < n; ++j) {
    m = s[j] > m ? s[j] : m;
    nan |= std::isnan(s[j]);
  }
  return nan ? std::numeric_limits<float>::quiet_NaN() : m;
}

void transpose_scalar(const float* src, int64_t stride, int64_t rows, int64_t cols, float mul, float* dst, int64_t ld) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) dst[c * ld + r] = mul * src[r * stride + c];
}

}  // namespace

AttentionBlockOps attention_block_ops_scalar() {
  return {matmul_scalar, exp_shifted_scalar, transpose_scalar, row_max_scalar};
}

}  // namespace peftjs
