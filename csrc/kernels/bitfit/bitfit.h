// BitFit's backward of y = x W^T + bias with W frozen: dx = dy W and dbias = column sums of dy.
// dW is never formed.
#pragma once

#include <cstdint>

namespace peftjs {

// dy [T, N], W [N, K]; dx [T, K] (null: the input needs no gradient); dbias [N] overwritten.
void bitfit_backward(const float* dy, const float* w, int64_t t, int64_t k, int64_t n, float* dx, float* dbias);

}  // namespace peftjs
