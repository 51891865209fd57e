// Small backward pieces of autograd: gradients of the unary ops and of softmax, column sums (a
// broadcast's gradient) and the scatter that undoes a strided gather (a slice's or a transpose's gradient).
#pragma once

#include <cstdint>

#include "elementwise.h"

namespace peftjs {

// dx[i] = dy[i] * f'(x[i]), x being the op's input.
void unary_backward(UnaryOp op, const float* x, const float* dy, float* dx, int64_t n);
// dx = y * (dy - sum(dy * y)) per row of [rows, cols]; dx may alias dy.
void softmax_backward(const float* y, const float* dy, float* dx, int64_t rows, int64_t cols);
// out[c] = beta * out[c] + sum_r a[r, c]; out is not read when beta == 0.
void column_sum(const float* a, float* out, int64_t rows, int64_t cols, float beta);

}  // namespace peftjs
