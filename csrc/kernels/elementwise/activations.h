// Vector builds of the activation functions that are libm calls in the portable loops (exp, tanh,
// sigmoid, silu, gelu, gelu_tanh): elementwise.cc and grad_ops.cc hand them their thread chunks when the
// CPU path is not scalar. In a GPT step GELU forward and backward were a fifth of the time as scalar libm.
#pragma once

#include <cstdint>

#include "elementwise.h"

namespace peftjs {

// True when op has a vector build below (the others stay on the portable loops).
bool has_activation_avx2(UnaryOp op);
// out[i] = f(a[i]) over [0, n), one thread; out may alias a.
void activation_avx2(UnaryOp op, const float* a, float* out, int64_t n);
// dx[i] = dy[i] * f'(x[i]) over [0, n), one thread; dx may alias dy.
void activation_backward_avx2(UnaryOp op, const float* x, const float* dy, float* dx, int64_t n);

}  // namespace peftjs
