// The CPU and CUDA primitive kernels as N-API functions. Each takes one params object, the TypeScript
// kernel's own (lib/backend/types.ts) with buffers as Float32Arrays (CPU) or [handle, offset] views (CUDA),
// and checks every field (types, integer sizes, buffer lengths against the shapes) before calling into
// csrc/kernels, which trust their arguments. The checks and messages are those of
// lib/backend/primitive_checks.ts, which the registry runs first on every backend.
#include <utility>
#include <vector>

#include "../kernels/copy/copy.h"
#include "../kernels/elementwise/elementwise.h"
#include "../kernels/gemm/gemm.h"
#include "../kernels/random/random.h"
#include "../kernels/reduce/reduce.h"
#include "../../cuda/device_api.h"
#include "args.h"
#include "typed_args.h"
#include "device_handle.h"
#include "bindings.h"
#include "buffers.h"

namespace peftjs {
namespace {

// Where the data lives. CPU: Float32Arrays over host memory. CUDA: [handle, offset] views of device memory.
struct CpuDevice : HostBuffers {
  static void gemm(const ValueChecks&, const GemmArgs& g) { peftjs::gemm(g); }
  static void binary(const ValueChecks&, BinaryOp op, const float* a, const float* b, float* o, int64_t n, int64_t bl) {
    peftjs::binary(op, a, b, o, n, bl);
  }
  static void scale(const ValueChecks&, const float* a, float* o, int64_t n, float al, float be) { peftjs::scale(a, o, n, al, be); }
  static void unary(const ValueChecks&, UnaryOp op, const float* a, float* o, int64_t n) { peftjs::unary(op, a, o, n); }
  static void row_reduce(const ValueChecks&, ReduceOp op, const float* a, float* o, int64_t r, int64_t c) {
    peftjs::row_reduce(op, a, o, r, c);
  }
  static void softmax_rows(const ValueChecks&, const float* a, float* o, int64_t r, int64_t c) { peftjs::softmax_rows(a, o, r, c); }
  static void strided_copy(const ValueChecks&, const float* s, float* d, const int64_t* sh, const int64_t* st, int nd) {
    peftjs::strided_copy(s, d, sh, st, nd);
  }
  static void fill(const ValueChecks&, float* o, int64_t n, float v) { peftjs::fill(o, n, v); }
  static void random_uniform(const ValueChecks&, float* o, int64_t n, uint64_t s, uint64_t off, float lo, float hi) {
    peftjs::random_uniform(o, n, s, off, lo, hi);
  }
  static void random_normal(const ValueChecks&, float* o, int64_t n, uint64_t s, uint64_t off, float m, float sd) {
    peftjs::random_normal(o, n, s, off, m, sd);
  }
};

struct CudaDevice : DeviceBuffers {
  static void gemm(const ValueChecks& c, const GemmArgs& g) {
    std::string e;
    check(c, cuda::gemm(g, &e), e);
  }
  static void binary(const ValueChecks& c, BinaryOp op, const float* a, const float* b, float* o, int64_t n, int64_t bl) {
    std::string e;
    check(c, cuda::binary(op, a, b, o, n, bl, &e), e);
  }
  static void scale(const ValueChecks& c, const float* a, float* o, int64_t n, float al, float be) {
    std::string e;
    check(c, cuda::scale(a, o, n, al, be, &e), e);
  }
  static void unary(const ValueChecks& c, UnaryOp op, const float* a, float* o, int64_t n) {
    std::string e;
    check(c, cuda::unary(op, a, o, n, &e), e);
  }
  static void row_reduce(const ValueChecks& c, ReduceOp op, const float* a, float* o, int64_t r, int64_t cols) {
    std::string e;
    check(c, cuda::row_reduce(op, a, o, r, cols, &e), e);
  }
  static void softmax_rows(const ValueChecks& c, const float* a, float* o, int64_t r, int64_t cols) {
    std::string e;
    check(c, cuda::softmax_rows(a, o, r, cols, &e), e);
  }
  static void strided_copy(const ValueChecks& c, const float* s, float* d, const int64_t* sh, const int64_t* st, int nd) {
    std::string e;
    check(c, cuda::strided_copy(s, d, sh, st, nd, &e), e);
  }
  static void fill(const ValueChecks& c, float* o, int64_t n, float v) {
    std::string e;
    check(c, cuda::fill(o, n, v, &e), e);
  }
  static void random_uniform(const ValueChecks& c, float* o, int64_t n, uint64_t s, uint64_t off, float lo, float hi) {
    std::string e;
    check(c, cuda::random_uniform(o, n, s, off, lo, hi, &e), e);
  }
  static void random_normal(const ValueChecks& c, float* o, int64_t n, uint64_t s, uint64_t off, float m, float sd) {
    std::string e;
    check(c, cuda::random_normal(o, n, s, off, m, sd, &e), e);
  }
};

constexpr std::pair<const char*, BinaryOp> kBinaryOps[] = {
    {"add", BinaryOp::Add}, {"sub", BinaryOp::Sub}, {"mul", BinaryOp::Mul}, {"div", BinaryOp::Div}};
constexpr std::pair<const char*, ReduceOp> kReduceOps[] = {
    {"sum", ReduceOp::Sum}, {"max", ReduceOp::Max}, {"mean", ReduceOp::Mean}};

// gemm({transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias?})
template <class D>
Napi::Value Gemm(const Napi::CallbackInfo& info) {
  const Params p(info, "gemm");
  GemmArgs g;
  g.trans_a = p.boolean("transA");
  g.trans_b = p.boolean("transB");
  g.m = p.dim("m");
  g.n = p.dim("n");
  g.k = p.dim("k");
  g.alpha = p.f32_value("alpha");
  g.lda = p.dim("lda");
  g.ldb = p.dim("ldb");
  g.beta = p.f32_value("beta");
  g.ldc = p.dim("ldc");
  // Stored shapes: A is [m, k] or [k, m] (transA); B is [k, n] or [n, k] (transB); C is [m, n].
  const int64_t a_need = g.trans_a ? p.matrix_span("a", g.k, g.m, g.lda) : p.matrix_span("a", g.m, g.k, g.lda);
  const int64_t b_need = g.trans_b ? p.matrix_span("b", g.n, g.k, g.ldb) : p.matrix_span("b", g.k, g.n, g.ldb);
  const int64_t c_need = p.matrix_span("c", g.m, g.n, g.ldc);
  g.a = D::view(p, "a", a_need);
  g.b = D::view(p, "b", b_need);
  g.c = D::view(p, "c", c_need);
  g.bias = D::opt_view(p, "bias", g.n);
  D::gemm(p, g);
  return info.Env().Undefined();
}

// binary({op, a, b, out, n, bLength}): bLength == n, or a row of width bLength broadcast over a.
template <class D>
Napi::Value Binary(const Napi::CallbackInfo& info) {
  const Params p(info, "binary");
  const BinaryOp op = op_named(p, kBinaryOps, "binary op", " (expected add, sub, mul or div)");
  const int64_t n = p.dim("n");
  const int64_t b_len = p.dim("bLength");
  if (n > 0 && (b_len == 0 || n % b_len != 0))
    p.fail_range("b of length " + std::to_string(b_len) + " does not broadcast over a of length " + std::to_string(n) +
                 " (expected the same length or a row width that divides it)");
  const float* a = D::view(p, "a", n);
  const float* b = D::view(p, "b", b_len);
  float* out = D::view(p, "out", n);
  D::binary(p, op, a, b, out, n, b_len);
  return info.Env().Undefined();
}

// scale({a, out, n, alpha, beta}): out = alpha * a + beta
template <class D>
Napi::Value Scale(const Napi::CallbackInfo& info) {
  const Params p(info, "scale");
  const int64_t n = p.dim("n");
  const float alpha = p.f32_value("alpha");
  const float beta = p.f32_value("beta");
  const float* a = D::view(p, "a", n);
  float* out = D::view(p, "out", n);
  D::scale(p, a, out, n, alpha, beta);
  return info.Env().Undefined();
}

// unary({op, a, out, n})
template <class D>
Napi::Value Unary(const Napi::CallbackInfo& info) {
  const Params p(info, "unary");
  const UnaryOp op = op_named(p, kUnaryOps, "unary op", "");
  const int64_t n = p.dim("n");
  const float* a = D::view(p, "a", n);
  float* out = D::view(p, "out", n);
  D::unary(p, op, a, out, n);
  return info.Env().Undefined();
}

// rowReduce({op, a, out, rows, cols})
template <class D>
Napi::Value RowReduce(const Napi::CallbackInfo& info) {
  const Params p(info, "rowReduce");
  const ReduceOp op = op_named(p, kReduceOps, "reduction", " (expected sum, max or mean)");
  const int64_t rows = p.dim("rows");
  const int64_t cols = p.dim("cols");
  const float* a = D::view(p, "a", p.checked_mul(rows, cols));
  float* out = D::view(p, "out", rows);
  D::row_reduce(p, op, a, out, rows, cols);
  return info.Env().Undefined();
}

// softmax({a, out, rows, cols})
template <class D>
Napi::Value Softmax(const Napi::CallbackInfo& info) {
  const Params p(info, "softmax");
  const int64_t rows = p.dim("rows");
  const int64_t cols = p.dim("cols");
  const int64_t n = p.checked_mul(rows, cols);
  const float* a = D::view(p, "a", n);
  float* out = D::view(p, "out", n);
  D::softmax_rows(p, a, out, rows, cols);
  return info.Env().Undefined();
}

// stridedCopy({src, dst, shape, strides}): src is the view's storage from its offset on.
template <class D>
Napi::Value StridedCopy(const Napi::CallbackInfo& info) {
  const Params p(info, "stridedCopy");
  const ViewSpan v = view_span(p);
  const float* src = D::view(p, "src", v.span);
  float* dst = D::view(p, "dst", v.total);
  D::strided_copy(p, src, dst, v.shape.data(), v.strides.data(), static_cast<int>(v.shape.size()));
  return info.Env().Undefined();
}

// fill({out, n, value})
template <class D>
Napi::Value Fill(const Napi::CallbackInfo& info) {
  const Params p(info, "fill");
  const int64_t n = p.dim("n");
  const float value = p.f32_value("value");
  float* out = D::view(p, "out", n);
  D::fill(p, out, n, value);
  return info.Env().Undefined();
}

// randomFill({kind: 'uniform', low, high, ...} | {kind: 'normal', mean, std, ...} and out, n, seed, offset):
// uniform in [low, high) or normal (mean, std).
template <class D>
Napi::Value RandomFill(const Napi::CallbackInfo& info) {
  const Params p(info, "randomFill");
  const std::string kind = p.string("kind");
  if (kind != "uniform" && kind != "normal") p.fail_range("kind must be 'uniform' or 'normal', got '" + kind + "'");
  const bool uniform = kind == "uniform";
  const int64_t n = p.dim("n");
  const uint64_t seed = static_cast<uint64_t>(p.dim("seed"));  // below 2^48: exact in a JS number
  const uint64_t offset = static_cast<uint64_t>(p.dim("offset"));
  const float first = p.f32(uniform ? "low" : "mean");
  const float second = p.f32(uniform ? "high" : "std");
  float* out = D::view(p, "out", n);
  if (uniform) D::random_uniform(p, out, n, seed, offset, first, second);
  else D::random_normal(p, out, n, seed, offset, first, second);
  return info.Env().Undefined();
}

}  // namespace

void register_ops(Napi::Env env, Napi::Object exports) {
  set_functions(env, exports, {
      {"gemm", Gemm<CpuDevice>},
      {"cudaGemm", Gemm<CudaDevice>},
      {"binary", Binary<CpuDevice>},
      {"cudaBinary", Binary<CudaDevice>},
      {"scale", Scale<CpuDevice>},
      {"cudaScale", Scale<CudaDevice>},
      {"unary", Unary<CpuDevice>},
      {"cudaUnary", Unary<CudaDevice>},
      {"rowReduce", RowReduce<CpuDevice>},
      {"cudaRowReduce", RowReduce<CudaDevice>},
      {"softmax", Softmax<CpuDevice>},
      {"cudaSoftmax", Softmax<CudaDevice>},
      {"stridedCopy", StridedCopy<CpuDevice>},
      {"cudaStridedCopy", StridedCopy<CudaDevice>},
      {"fill", Fill<CpuDevice>},
      {"cudaFill", Fill<CudaDevice>},
      {"randomFill", RandomFill<CpuDevice>},
      {"cudaRandomFill", RandomFill<CudaDevice>},
  });
}

}  // namespace peftjs
