// Every unary op in one table: its name (as lib/ops/unary/table.ts spells it), its value f and its
// derivative df at the op's input, in float32. The CPU loops (elementwise.cc, grad_ops.cc), the CUDA kernels
// (cuda/elementwise.cu) and the binding's name lookup (typed_args.h) are all generated from this file; the
// AVX2 builds in activations_avx2.cc are optional faster paths for the costly ops, with the same math.
// Adding an op: one X(...) line and one UnaryMath<> specialization here (docs/DESIGN.md, "Adding an op").
#pragma once

#include <cmath>
#include <type_traits>

#ifdef __CUDACC__
#define PEFTJS_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define PEFTJS_HOST_DEVICE inline
#endif

namespace peftjs {

// X(Enum, "name") for every op, in the TypeScript table's order.
#define PEFTJS_UNARY_OPS(X)                                                                             \
  X(Exp, "exp") X(Log, "log") X(Tanh, "tanh") X(Gelu, "gelu") X(GeluTanh, "gelu_tanh") X(Silu, "silu") \
  X(Relu, "relu") X(Neg, "neg") X(Sqrt, "sqrt") X(Sigmoid, "sigmoid") X(Softplus, "softplus")

enum class UnaryOp {
#define PEFTJS_UNARY_ENUM(e, name) e,
  PEFTJS_UNARY_OPS(PEFTJS_UNARY_ENUM)
#undef PEFTJS_UNARY_ENUM
};

// Products, sums and quotients the CPU evaluates as separate float operations: on the GPU the _rn
// intrinsics, which nvcc never contracts into an FMA, so both give the same bits.
namespace unary_math {
PEFTJS_HOST_DEVICE float mul(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}
PEFTJS_HOST_DEVICE float add(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fadd_rn(a, b);
#else
  return a + b;
#endif
}
PEFTJS_HOST_DEVICE float div(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fdiv_rn(a, b);
#else
  return a / b;
#endif
}
PEFTJS_HOST_DEVICE float sigmoid(float x) { return div(1.0f, add(1.0f, expf(-x))); }
constexpr float kSqrtHalf = 0.70710678118654752f, kSqrt2OverPi = 0.79788456080286536f;
constexpr float kInvSqrt2Pi = 0.39894228040143268f, kGeluC = 0.044715f;
}  // namespace unary_math

// UnaryMath<OP>::f(x) and UnaryMath<OP>::df(x), x being the op's input for every op.
template <UnaryOp OP>
struct UnaryMath;

template <>
struct UnaryMath<UnaryOp::Exp> {
  static PEFTJS_HOST_DEVICE float f(float x) { return expf(x); }
  static PEFTJS_HOST_DEVICE float df(float x) { return expf(x); }
};

template <>
struct UnaryMath<UnaryOp::Log> {
  static PEFTJS_HOST_DEVICE float f(float x) { return logf(x); }
  static PEFTJS_HOST_DEVICE float df(float x) { return unary_math::div(1.0f, x); }
};

template <>
struct UnaryMath<UnaryOp::Tanh> {
  static PEFTJS_HOST_DEVICE float f(float x) { return tanhf(x); }
  static PEFTJS_HOST_DEVICE float df(float x) {
    const float t = tanhf(x);
    return unary_math::add(1.0f, -unary_math::mul(t, t));
  }
};

// x Phi(x); d/dx = Phi(x) + x phi(x)
template <>
struct UnaryMath<UnaryOp::Gelu> {
  static PEFTJS_HOST_DEVICE float f(float x) {
    using namespace unary_math;
    return mul(mul(0.5f, x), add(1.0f, erff(mul(x, kSqrtHalf))));
  }
  static PEFTJS_HOST_DEVICE float df(float x) {
    using namespace unary_math;
    return add(mul(0.5f, add(1.0f, erff(mul(x, kSqrtHalf)))), mul(mul(x, kInvSqrt2Pi), expf(mul(mul(-0.5f, x), x))));
  }
};

// x/2 (1 + tanh(u)), u = c (x + 0.044715 x^3); d/dx = (1 + t)/2 + x/2 (1 - t^2) c (1 + 3 * 0.044715 x^2)
template <>
struct UnaryMath<UnaryOp::GeluTanh> {
  static PEFTJS_HOST_DEVICE float inner(float x) {
    using namespace unary_math;
    return mul(kSqrt2OverPi, add(x, mul(mul(mul(kGeluC, x), x), x)));
  }
  static PEFTJS_HOST_DEVICE float f(float x) {
    using namespace unary_math;
    return mul(mul(0.5f, x), add(1.0f, tanhf(inner(x))));
  }
  static PEFTJS_HOST_DEVICE float df(float x) {
    using namespace unary_math;
    const float t = tanhf(inner(x));
    const float slope = mul(kSqrt2OverPi, add(1.0f, mul(mul(mul(3.0f, kGeluC), x), x)));
    return add(mul(0.5f, add(1.0f, t)), mul(mul(mul(0.5f, x), add(1.0f, -mul(t, t))), slope));
  }
};

// x s(x); d/dx = s (1 + x (1 - s))
template <>
struct UnaryMath<UnaryOp::Silu> {
  static PEFTJS_HOST_DEVICE float f(float x) { return unary_math::div(x, unary_math::add(1.0f, expf(-x))); }
  static PEFTJS_HOST_DEVICE float df(float x) {
    using namespace unary_math;
    const float s = sigmoid(x);
    return mul(s, add(1.0f, mul(x, add(1.0f, -s))));
  }
};

template <>
struct UnaryMath<UnaryOp::Relu> {
  static PEFTJS_HOST_DEVICE float f(float x) { return x <= 0.0f ? 0.0f : x; }  // NaN stays NaN, as in PyTorch
  static PEFTJS_HOST_DEVICE float df(float x) { return x > 0.0f ? 1.0f : 0.0f; }
};

template <>
struct UnaryMath<UnaryOp::Neg> {
  static PEFTJS_HOST_DEVICE float f(float x) { return -x; }
  static PEFTJS_HOST_DEVICE float df(float) { return -1.0f; }
};

template <>
struct UnaryMath<UnaryOp::Sqrt> {
  static PEFTJS_HOST_DEVICE float f(float x) { return sqrtf(x); }
  static PEFTJS_HOST_DEVICE float df(float x) { return unary_math::div(0.5f, sqrtf(x)); }
};

template <>
struct UnaryMath<UnaryOp::Sigmoid> {
  static PEFTJS_HOST_DEVICE float f(float x) { return unary_math::sigmoid(x); }
  static PEFTJS_HOST_DEVICE float df(float x) {
    const float s = unary_math::sigmoid(x);
    return unary_math::mul(s, unary_math::add(1.0f, -s));
  }
};

// log(1 + e^x), linear past x = 20 as torch.nn.functional.softplus (beta 1, threshold 20); d/dx = s(x)
template <>
struct UnaryMath<UnaryOp::Softplus> {
  static PEFTJS_HOST_DEVICE float f(float x) { return x > 20.0f ? x : log1pf(expf(x)); }
  static PEFTJS_HOST_DEVICE float df(float x) { return x > 20.0f ? 1.0f : unary_math::sigmoid(x); }
};

// fn(std::integral_constant<UnaryOp, OP>{}) for the op chosen at run time: the one switch over the ops.
template <class Fn>
auto with_unary_op(UnaryOp op, Fn&& fn) {
  switch (op) {
#define PEFTJS_UNARY_CASE(e, name) \
  case UnaryOp::e:                 \
    return fn(std::integral_constant<UnaryOp, UnaryOp::e>{});
    PEFTJS_UNARY_OPS(PEFTJS_UNARY_CASE)
#undef PEFTJS_UNARY_CASE
  }
  return fn(std::integral_constant<UnaryOp, UnaryOp::Neg>{});  // unreachable: every enum value has a case
}

}  // namespace peftjs
