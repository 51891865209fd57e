// The CPU kernels as N-API functions. Each checks every argument (types, integer sizes, buffer lengths
// against the shapes) before calling into csrc/kernels, which trust their arguments.
#include <vector>

#include "../kernels/copy.h"
#include "../kernels/elementwise.h"
#include "../kernels/gemm.h"
#include "../kernels/random.h"
#include "../kernels/reduce.h"
#include "../../cuda/device_api.h"
#include "args.h"
#include "typed_args.h"
#include "device_handle.h"
#include "bindings.h"

namespace peftjs {
namespace {

// Where the data lives. CPU: Float32Arrays over host memory. CUDA: [handle, offset] views of device memory.
struct CpuDevice {
  static float* view(const Args& args, size_t i, const char* name, int64_t needed) {
    return args.floats(i, name, needed).data;
  }
  static void gemm(const Args&, const GemmArgs& g) { peftjs::gemm(g); }
  static void binary(const Args&, BinaryOp op, const float* a, const float* b, float* o, int64_t n, int64_t bl) {
    peftjs::binary(op, a, b, o, n, bl);
  }
  static void scale(const Args&, const float* a, float* o, int64_t n, float al, float be) { peftjs::scale(a, o, n, al, be); }
  static void unary(const Args&, UnaryOp op, const float* a, float* o, int64_t n) { peftjs::unary(op, a, o, n); }
  static void row_reduce(const Args&, ReduceOp op, const float* a, float* o, int64_t r, int64_t c) {
    peftjs::row_reduce(op, a, o, r, c);
  }
  static void softmax_rows(const Args&, const float* a, float* o, int64_t r, int64_t c) { peftjs::softmax_rows(a, o, r, c); }
  static void strided_copy(const Args&, const float* s, float* d, const int64_t* sh, const int64_t* st, int nd) {
    peftjs::strided_copy(s, d, sh, st, nd);
  }
  static void fill(const Args&, float* o, int64_t n, float v) { peftjs::fill(o, n, v); }
  static void random_uniform(const Args&, float* o, int64_t n, uint64_t s, uint64_t off, float lo, float hi) {
    peftjs::random_uniform(o, n, s, off, lo, hi);
  }
  static void random_normal(const Args&, float* o, int64_t n, uint64_t s, uint64_t off, float m, float sd) {
    peftjs::random_normal(o, n, s, off, m, sd);
  }
};

struct CudaDevice {
  static float* view(const Args& args, size_t i, const char* name, int64_t needed) {
    return device_view(args, i, name, needed);
  }
  static void check(const Args& args, bool ok, const std::string& error) {
    if (!ok) args.fail_range(error);
  }
  static void gemm(const Args& args, const GemmArgs& g) {
    std::string e;
    check(args, cuda::gemm(g, &e), e);
  }
  static void binary(const Args& args, BinaryOp op, const float* a, const float* b, float* o, int64_t n, int64_t bl) {
    std::string e;
    check(args, cuda::binary(op, a, b, o, n, bl, &e), e);
  }
  static void scale(const Args& args, const float* a, float* o, int64_t n, float al, float be) {
    std::string e;
    check(args, cuda::scale(a, o, n, al, be, &e), e);
  }
  static void unary(const Args& args, UnaryOp op, const float* a, float* o, int64_t n) {
    std::string e;
    check(args, cuda::unary(op, a, o, n, &e), e);
  }
  static void row_reduce(const Args& args, ReduceOp op, const float* a, float* o, int64_t r, int64_t c) {
    std::string e;
    check(args, cuda::row_reduce(op, a, o, r, c, &e), e);
  }
  static void softmax_rows(const Args& args, const float* a, float* o, int64_t r, int64_t c) {
    std::string e;
    check(args, cuda::softmax_rows(a, o, r, c, &e), e);
  }
  static void strided_copy(const Args& args, const float* s, float* d, const int64_t* sh, const int64_t* st, int nd) {
    std::string e;
    check(args, cuda::strided_copy(s, d, sh, st, nd, &e), e);
  }
  static void fill(const Args& args, float* o, int64_t n, float v) {
    std::string e;
    check(args, cuda::fill(o, n, v, &e), e);
  }
  static void random_uniform(const Args& args, float* o, int64_t n, uint64_t s, uint64_t off, float lo, float hi) {
    std::string e;
    check(args, cuda::random_uniform(o, n, s, off, lo, hi, &e), e);
  }
  static void random_normal(const Args& args, float* o, int64_t n, uint64_t s, uint64_t off, float m, float sd) {
    std::string e;
    check(args, cuda::random_normal(o, n, s, off, m, sd, &e), e);
  }
};

// gemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias|null)
template <class D>
Napi::Value Gemm(const Napi::CallbackInfo& info) {
  Args args(info, "gemm", 14);
  GemmArgs g;
  g.trans_a = args.boolean(0, "transA");
  g.trans_b = args.boolean(1, "transB");
  g.m = args.dim(2, "m");
  g.n = args.dim(3, "n");
  g.k = args.dim(4, "k");
  g.alpha = args.f32_value(5, "alpha");
  g.lda = args.dim(7, "lda");
  g.ldb = args.dim(9, "ldb");
  g.beta = args.f32_value(10, "beta");
  g.ldc = args.dim(12, "ldc");
  // Stored shapes: A is [m, k] or [k, m] (transA); B is [k, n] or [n, k] (transB); C is [m, n].
  const int64_t a_need = g.trans_a ? args.matrix_span("a", g.k, g.m, g.lda) : args.matrix_span("a", g.m, g.k, g.lda);
  const int64_t b_need = g.trans_b ? args.matrix_span("b", g.n, g.k, g.ldb) : args.matrix_span("b", g.k, g.n, g.ldb);
  const int64_t c_need = args.matrix_span("c", g.m, g.n, g.ldc);
  g.a = D::view(args, 6, "a", a_need);
  g.b = D::view(args, 8, "b", b_need);
  g.c = D::view(args, 11, "c", c_need);
  if (!args.is_null(13)) g.bias = D::view(args, 13, "bias", g.n);
  D::gemm(args, g);
  return info.Env().Undefined();
}

BinaryOp binary_op(const Args& args, const std::string& name) {
  if (name == "add") return BinaryOp::Add;
  if (name == "sub") return BinaryOp::Sub;
  if (name == "mul") return BinaryOp::Mul;
  if (name == "div") return BinaryOp::Div;
  args.fail_range("unknown binary op '" + name + "' (expected add, sub, mul or div)");
}

ReduceOp reduce_op(const Args& args, const std::string& name) {
  if (name == "sum") return ReduceOp::Sum;
  if (name == "max") return ReduceOp::Max;
  if (name == "mean") return ReduceOp::Mean;
  args.fail_range("unknown reduction '" + name + "' (expected sum, max or mean)");
}

// binary(op, a, b, out, n, bLength): bLength == n, or a row of width bLength broadcast over a.
template <class D>
Napi::Value Binary(const Napi::CallbackInfo& info) {
  Args args(info, "binary", 6);
  const BinaryOp op = binary_op(args, args.string(0, "op"));
  const int64_t n = args.dim(4, "n");
  const int64_t b_len = args.dim(5, "bLength");
  if (n > 0 && (b_len == 0 || n % b_len != 0))
    args.fail_range("b of length " + std::to_string(b_len) + " does not broadcast over a of length " +
                    std::to_string(n) + " (expected the same length or a row width that divides it)");
  const float* a = D::view(args, 1, "a", n);
  const float* b = D::view(args, 2, "b", b_len);
  float* out = D::view(args, 3, "out", n);
  D::binary(args, op, a, b, out, n, b_len);
  return info.Env().Undefined();
}

// scale(a, out, n, alpha, beta): out = alpha * a + beta
template <class D>
Napi::Value Scale(const Napi::CallbackInfo& info) {
  Args args(info, "scale", 5);
  const int64_t n = args.dim(2, "n");
  const float alpha = args.f32_value(3, "alpha");
  const float beta = args.f32_value(4, "beta");
  const float* a = D::view(args, 0, "a", n);
  float* out = D::view(args, 1, "out", n);
  D::scale(args, a, out, n, alpha, beta);
  return info.Env().Undefined();
}

// unary(op, a, out, n)
template <class D>
Napi::Value Unary(const Napi::CallbackInfo& info) {
  Args args(info, "unary", 4);
  const UnaryOp op = unary_op(args, args.string(0, "op"));
  const int64_t n = args.dim(3, "n");
  const float* a = D::view(args, 1, "a", n);
  float* out = D::view(args, 2, "out", n);
  D::unary(args, op, a, out, n);
  return info.Env().Undefined();
}

// rowReduce(op, a, out, rows, cols)
template <class D>
Napi::Value RowReduce(const Napi::CallbackInfo& info) {
  Args args(info, "rowReduce", 5);
  const ReduceOp op = reduce_op(args, args.string(0, "op"));
  const int64_t rows = args.dim(3, "rows");
  const int64_t cols = args.dim(4, "cols");
  const float* a = D::view(args, 1, "a", args.checked_mul(rows, cols));
  float* out = D::view(args, 2, "out", rows);
  D::row_reduce(args, op, a, out, rows, cols);
  return info.Env().Undefined();
}

// softmax(a, out, rows, cols)
template <class D>
Napi::Value Softmax(const Napi::CallbackInfo& info) {
  Args args(info, "softmax", 4);
  const int64_t rows = args.dim(2, "rows");
  const int64_t cols = args.dim(3, "cols");
  const int64_t n = args.checked_mul(rows, cols);
  const float* a = D::view(args, 0, "a", n);
  float* out = D::view(args, 1, "out", n);
  D::softmax_rows(args, a, out, rows, cols);
  return info.Env().Undefined();
}

// stridedCopy(src, dst, shape, strides): src is the view's storage from its offset on.
template <class D>
Napi::Value StridedCopy(const Napi::CallbackInfo& info) {
  Args args(info, "stridedCopy", 4);
  const std::vector<int64_t> shape = dim_list(args, info[2], "shape");
  const std::vector<int64_t> strides = dim_list(args, info[3], "strides");
  if (shape.size() != strides.size())
    args.fail_range("shape has " + std::to_string(shape.size()) + " dimensions but strides has " +
                    std::to_string(strides.size()));
  int64_t total = 1, last = 0;
  for (size_t d = 0; d < shape.size(); ++d) {
    total = args.checked_mul(total, shape[d]);
    if (shape[d] > 0) last = args.checked_add(last, args.checked_mul(shape[d] - 1, strides[d]));
  }
  const float* src = D::view(args, 0, "src", total == 0 ? 0 : last + 1);
  float* dst = D::view(args, 1, "dst", total);
  D::strided_copy(args, src, dst, shape.data(), strides.data(), static_cast<int>(shape.size()));
  return info.Env().Undefined();
}

// fill(out, n, value)
template <class D>
Napi::Value Fill(const Napi::CallbackInfo& info) {
  Args args(info, "fill", 3);
  const int64_t n = args.dim(1, "n");
  const float value = args.f32_value(2, "value");
  float* out = D::view(args, 0, "out", n);
  D::fill(args, out, n, value);
  return info.Env().Undefined();
}

uint64_t seed_arg(const Args& args, size_t i) {
  const int64_t s = args.dim(i, "seed");  // below 2^48: exact in a JS number
  return static_cast<uint64_t>(s);
}

// randomFill(kind, out, n, seed, offset, p0, p1): uniform [p0, p1) or normal (mean p0, std p1).
template <class D>
Napi::Value RandomFill(const Napi::CallbackInfo& info) {
  Args args(info, "randomFill", 7);
  const std::string kind = args.string(0, "kind");
  if (kind != "uniform" && kind != "normal") args.fail_range("kind must be 'uniform' or 'normal', got '" + kind + "'");
  const int64_t n = args.dim(2, "n");
  const uint64_t seed = seed_arg(args, 3);
  const uint64_t offset = static_cast<uint64_t>(args.dim(4, "offset"));
  const float p0 = args.f32(5, "p0");
  const float p1 = args.f32(6, "p1");
  float* out = D::view(args, 1, "out", n);
  if (kind == "uniform") D::random_uniform(args, out, n, seed, offset, p0, p1);
  else if (kind == "normal") D::random_normal(args, out, n, seed, offset, p0, p1);
  return info.Env().Undefined();
}

}  // namespace

void register_ops(Napi::Env env, Napi::Object exports) {
  exports.Set("gemm", Napi::Function::New(env, Gemm<CpuDevice>, "gemm"));
  exports.Set("cudaGemm", Napi::Function::New(env, Gemm<CudaDevice>, "cudaGemm"));
  exports.Set("binary", Napi::Function::New(env, Binary<CpuDevice>, "binary"));
  exports.Set("cudaBinary", Napi::Function::New(env, Binary<CudaDevice>, "cudaBinary"));
  exports.Set("scale", Napi::Function::New(env, Scale<CpuDevice>, "scale"));
  exports.Set("cudaScale", Napi::Function::New(env, Scale<CudaDevice>, "cudaScale"));
  exports.Set("unary", Napi::Function::New(env, Unary<CpuDevice>, "unary"));
  exports.Set("cudaUnary", Napi::Function::New(env, Unary<CudaDevice>, "cudaUnary"));
  exports.Set("rowReduce", Napi::Function::New(env, RowReduce<CpuDevice>, "rowReduce"));
  exports.Set("cudaRowReduce", Napi::Function::New(env, RowReduce<CudaDevice>, "cudaRowReduce"));
  exports.Set("softmax", Napi::Function::New(env, Softmax<CpuDevice>, "softmax"));
  exports.Set("cudaSoftmax", Napi::Function::New(env, Softmax<CudaDevice>, "cudaSoftmax"));
  exports.Set("stridedCopy", Napi::Function::New(env, StridedCopy<CpuDevice>, "stridedCopy"));
  exports.Set("cudaStridedCopy", Napi::Function::New(env, StridedCopy<CudaDevice>, "cudaStridedCopy"));
  exports.Set("fill", Napi::Function::New(env, Fill<CpuDevice>, "fill"));
  exports.Set("cudaFill", Napi::Function::New(env, Fill<CudaDevice>, "cudaFill"));
  exports.Set("randomFill", Napi::Function::New(env, RandomFill<CpuDevice>, "randomFill"));
  exports.Set("cudaRandomFill", Napi::Function::New(env, RandomFill<CudaDevice>, "cudaRandomFill"));
}

}  // namespace peftjs
