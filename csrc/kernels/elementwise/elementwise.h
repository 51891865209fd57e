// Elementwise kernels on contiguous float32 data.
#pragma once

#include <cstdint>

#include "unary_ops.h"

namespace peftjs {

enum class BinaryOp { Add, Sub, Mul, Div };

// out[i] = a[i] op b[i % b_len]: b_len == n (same shape) or a row vector broadcast over rows of width
// b_len (n % b_len == 0). out may alias a or b.
void binary(BinaryOp op, const float* a, const float* b, float* out, int64_t n, int64_t b_len);
// out[i] = alpha * a[i] + beta
void scale(const float* a, float* out, int64_t n, float alpha, float beta);
void unary(UnaryOp op, const float* a, float* out, int64_t n);
void fill(float* out, int64_t n, float value);

}  // namespace peftjs
