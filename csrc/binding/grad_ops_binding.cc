// The backward pieces of the primitives (unary, softmax, column sums, strided scatter;
// csrc/kernels/elementwise/grad_ops.h) as N-API functions. Each takes one params object, the TypeScript kernel's
// own (lib/ops/grad_ops/kernel.ts) with buffers as Float32Arrays, and checks every size and buffer before the
// kernel runs: the kernels trust their arguments.
#include "../kernels/copy/copy.h"
#include "../kernels/elementwise/grad_ops.h"
#include "args.h"
#include "bindings.h"
#include "typed_args.h"

namespace peftjs {
namespace {

// unaryBackward({op, x, dy, dx, n})
Napi::Value UnaryBackward(const Napi::CallbackInfo& info) {
  const Params p(info, "unaryBackward");
  const UnaryOp op = op_named(p, kUnaryOps, "unary op", "");
  const int64_t n = p.dim("n");
  const float* x = p.floats("x", n);
  const float* dy = p.floats("dy", n);
  float* dx = p.floats("dx", n);
  unary_backward(op, x, dy, dx, n);
  return info.Env().Undefined();
}

// softmaxBackward({y, dy, dx, rows, cols})
Napi::Value SoftmaxBackward(const Napi::CallbackInfo& info) {
  const Params p(info, "softmaxBackward");
  const int64_t rows = p.dim("rows"), cols = p.dim("cols");
  const int64_t n = p.checked_mul(rows, cols);
  const float* y = p.floats("y", n);
  const float* dy = p.floats("dy", n);
  float* dx = p.floats("dx", n);
  softmax_backward(y, dy, dx, rows, cols);
  return info.Env().Undefined();
}

// columnSum({a, out, rows, cols, beta})
Napi::Value ColumnSum(const Napi::CallbackInfo& info) {
  const Params p(info, "columnSum");
  const int64_t rows = p.dim("rows"), cols = p.dim("cols");
  const float beta = p.f32("beta");
  const float* a = p.floats("a", p.checked_mul(rows, cols));
  float* out = p.floats("out", cols);
  column_sum(a, out, rows, cols, beta);
  return info.Env().Undefined();
}

// stridedScatter({src, dst, shape, strides}): dst is the view's storage from its offset on.
Napi::Value StridedScatter(const Napi::CallbackInfo& info) {
  const Params p(info, "stridedScatter");
  const ViewSpan v = view_span(p);
  const float* src = p.floats("src", v.total);
  float* dst = p.floats("dst", v.span);
  strided_scatter(src, dst, v.shape.data(), v.strides.data(), static_cast<int>(v.shape.size()));
  return info.Env().Undefined();
}

}  // namespace

void register_grad_ops(Napi::Env env, Napi::Object exports) {
  set_functions(env, exports, {
      {"unaryBackward", UnaryBackward},
      {"softmaxBackward", SoftmaxBackward},
      {"columnSum", ColumnSum},
      {"stridedScatter", StridedScatter},
  });
}

}  // namespace peftjs
