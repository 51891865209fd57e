// The backward pieces of the primitives (unary, softmax, column sums, strided scatter;
// csrc/kernels/elementwise/grad_ops.h, cuda/grad_ops.cu) as N-API functions, for the CPU and, prefixed cuda,
// for CUDA. Each takes one params object, the TypeScript kernel's own (lib/ops/grad_ops/kernel.ts) with
// buffers as Float32Arrays or [handle, offset] device views, and checks every size and buffer before the
// kernel runs: the kernels trust their arguments.
#include "../../cuda/device_api.h"
#include "../kernels/copy/copy.h"
#include "../kernels/elementwise/grad_ops.h"
#include "args.h"
#include "bindings.h"
#include "buffers.h"
#include "typed_args.h"

namespace peftjs {
namespace {

struct CpuGrad : HostBuffers {
  static void unary(const Params&, UnaryOp op, const float* x, const float* dy, float* dx, int64_t n) { unary_backward(op, x, dy, dx, n); }
  static void softmax(const Params&, const float* y, const float* dy, float* dx, int64_t r, int64_t c) { softmax_backward(y, dy, dx, r, c); }
  static void colsum(const Params&, const float* a, float* out, int64_t r, int64_t c, float beta) { column_sum(a, out, r, c, beta); }
  static void scatter(const Params&, const float* src, float* dst, const int64_t* sh, const int64_t* st, int nd) {
    strided_scatter(src, dst, sh, st, nd);
  }
};

struct CudaGrad : DeviceBuffers {
  static void unary(const Params& p, UnaryOp op, const float* x, const float* dy, float* dx, int64_t n) {
    run(p, cuda::unary_backward, op, x, dy, dx, n);
  }
  static void softmax(const Params& p, const float* y, const float* dy, float* dx, int64_t r, int64_t c) {
    run(p, cuda::softmax_backward, y, dy, dx, r, c);
  }
  static void colsum(const Params& p, const float* a, float* out, int64_t r, int64_t c, float beta) {
    run(p, cuda::column_sum, a, out, r, c, beta);
  }
  static void scatter(const Params& p, const float* src, float* dst, const int64_t* sh, const int64_t* st, int nd) {
    run(p, cuda::strided_scatter, src, dst, sh, st, nd);
  }
};

// unaryBackward({op, x, dy, dx, n})
template <class D>
Napi::Value UnaryBackward(const Napi::CallbackInfo& info) {
  const Params p(info, "unaryBackward");
  const UnaryOp op = op_named(p, kUnaryOps, "unary op", "");
  const int64_t n = p.dim("n");
  const float* x = D::view(p, "x", n);
  const float* dy = D::view(p, "dy", n);
  float* dx = D::view(p, "dx", n);
  D::unary(p, op, x, dy, dx, n);
  return info.Env().Undefined();
}

// softmaxBackward({y, dy, dx, rows, cols})
template <class D>
Napi::Value SoftmaxBackward(const Napi::CallbackInfo& info) {
  const Params p(info, "softmaxBackward");
  const int64_t rows = p.dim("rows"), cols = p.dim("cols");
  const int64_t n = p.checked_mul(rows, cols);
  const float* y = D::view(p, "y", n);
  const float* dy = D::view(p, "dy", n);
  float* dx = D::view(p, "dx", n);
  D::softmax(p, y, dy, dx, rows, cols);
  return info.Env().Undefined();
}

// columnSum({a, out, rows, cols, beta})
template <class D>
Napi::Value ColumnSum(const Napi::CallbackInfo& info) {
  const Params p(info, "columnSum");
  const int64_t rows = p.dim("rows"), cols = p.dim("cols");
  const float beta = p.f32("beta");
  const float* a = D::view(p, "a", p.checked_mul(rows, cols));
  float* out = D::view(p, "out", cols);
  D::colsum(p, a, out, rows, cols, beta);
  return info.Env().Undefined();
}

// stridedScatter({src, dst, shape, strides}): dst is the view's storage from its offset on.
template <class D>
Napi::Value StridedScatter(const Napi::CallbackInfo& info) {
  const Params p(info, "stridedScatter");
  const ViewSpan v = view_span(p);
  const float* src = D::view(p, "src", v.total);
  float* dst = D::view(p, "dst", v.span);
  D::scatter(p, src, dst, v.shape.data(), v.strides.data(), static_cast<int>(v.shape.size()));
  return info.Env().Undefined();
}

}  // namespace

void register_grad_ops(Napi::Env env, Napi::Object exports) {
  set_functions(env, exports, {
      {"unaryBackward", UnaryBackward<CpuGrad>},
      {"softmaxBackward", SoftmaxBackward<CpuGrad>},
      {"columnSum", ColumnSum<CpuGrad>},
      {"stridedScatter", StridedScatter<CpuGrad>},
      {"cudaUnaryBackward", UnaryBackward<CudaGrad>},
      {"cudaSoftmaxBackward", SoftmaxBackward<CudaGrad>},
      {"cudaColumnSum", ColumnSum<CudaGrad>},
      {"cudaStridedScatter", StridedScatter<CudaGrad>},
  });
}

}  // namespace peftjs
