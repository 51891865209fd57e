// The model kernels (gradients of elementwise ops, norms, embeddings, RoPE, cross-entropy) as N-API
// functions, CPU only. Each takes one params object, the TypeScript kernel's own (lib/backend/model_types.ts)
// with buffers as Float32Arrays, and every size, buffer and integer input (ids, targets, positions) is
// checked here, before the kernel runs: the kernels in csrc/kernels trust their arguments.
#include "../kernels/copy.h"
#include "../kernels/cross_entropy.h"
#include "../kernels/embedding.h"
#include "../kernels/grad_ops.h"
#include "../kernels/norm.h"
#include "../kernels/rope.h"
#include "args.h"
#include "bindings.h"
#include "typed_args.h"

namespace peftjs {
namespace {

float non_negative(const Params& p, const char* name) {
  const float v = p.f32(name);
  if (!(v >= 0.0f) || std::isinf(v)) p.fail_range(std::string(name) + " must be finite and >= 0, got " + Params::show(v));
  return v;
}

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
  const std::vector<int64_t> shape = dim_list(p, "shape");
  const std::vector<int64_t> strides = dim_list(p, "strides");
  if (shape.size() != strides.size())
    p.fail_range("shape has " + std::to_string(shape.size()) + " dimensions but strides has " + std::to_string(strides.size()));
  int64_t total = 1, last = 0;
  for (size_t d = 0; d < shape.size(); ++d) {
    total = p.checked_mul(total, shape[d]);
    if (shape[d] > 0) last = p.checked_add(last, p.checked_mul(shape[d] - 1, strides[d]));
  }
  const float* src = p.floats("src", total);
  float* dst = p.floats("dst", total == 0 ? 0 : last + 1);
  strided_scatter(src, dst, shape.data(), strides.data(), static_cast<int>(shape.size()));
  return info.Env().Undefined();
}

// What every norm shares: rows, cols >= 1, eps, x [rows, cols], weight [cols] | null.
NormArgs norm_args(const Params& p) {
  NormArgs a;
  a.rows = p.dim("rows");
  a.cols = p.dim("cols");
  if (a.cols == 0) p.fail_range("cols must be at least 1");
  a.eps = non_negative(p, "eps");
  a.x = p.floats("x", p.checked_mul(a.rows, a.cols));
  a.weight = p.opt_floats("weight", a.cols);
  return a;
}

// rmsNormForward({rows, cols, x, weight|null, eps, y, rstd})
Napi::Value RmsNormForward(const Napi::CallbackInfo& info) {
  const Params p(info, "rmsNormForward");
  const NormArgs a = norm_args(p);
  float* y = p.floats("y", a.rows * a.cols);
  float* rstd = p.floats("rstd", a.rows);
  rms_norm_forward(a, y, rstd);
  return info.Env().Undefined();
}

// rmsNormBackward({rows, cols, x, weight|null, eps, rstd, dy, dx, dweight|null})
Napi::Value RmsNormBackward(const Napi::CallbackInfo& info) {
  const Params p(info, "rmsNormBackward");
  const NormArgs a = norm_args(p);
  const float* rstd = p.floats("rstd", a.rows);
  const float* dy = p.floats("dy", a.rows * a.cols);
  float* dx = p.floats("dx", a.rows * a.cols);
  float* dweight = p.opt_floats("dweight", a.cols);
  rms_norm_backward(a, rstd, dy, dx, dweight);
  return info.Env().Undefined();
}

// layerNormForward({rows, cols, x, weight|null, bias|null, eps, y, mean, rstd})
Napi::Value LayerNormForward(const Napi::CallbackInfo& info) {
  const Params p(info, "layerNormForward");
  const NormArgs a = norm_args(p);
  const float* bias = p.opt_floats("bias", a.cols);
  float* y = p.floats("y", a.rows * a.cols);
  float* mean = p.floats("mean", a.rows);
  float* rstd = p.floats("rstd", a.rows);
  layer_norm_forward(a, bias, y, mean, rstd);
  return info.Env().Undefined();
}

// layerNormBackward({rows, cols, x, weight|null, eps, mean, rstd, dy, dx, dweight|null, dbias|null})
Napi::Value LayerNormBackward(const Napi::CallbackInfo& info) {
  const Params p(info, "layerNormBackward");
  const NormArgs a = norm_args(p);
  const float* mean = p.floats("mean", a.rows);
  const float* rstd = p.floats("rstd", a.rows);
  const float* dy = p.floats("dy", a.rows * a.cols);
  float* dx = p.floats("dx", a.rows * a.cols);
  float* dweight = p.opt_floats("dweight", a.cols);
  float* dbias = p.opt_floats("dbias", a.cols);
  layer_norm_backward(a, mean, rstd, dy, dx, dweight, dbias);
  return info.Env().Undefined();
}

// Every id in [0, vocab), checked before any row is read or written.
const int32_t* checked_ids(const Params& p, int64_t n, int64_t vocab) {
  const int32_t* ids = p.int32s("ids", n);
  for (int64_t k = 0; k < n; ++k)
    if (ids[k] < 0 || ids[k] >= vocab)
      p.fail_range("ids[" + std::to_string(k) + "] = " + std::to_string(ids[k]) + " is out of range [0, " +
                   std::to_string(vocab) + ") (vocab " + std::to_string(vocab) + ")");
  return ids;
}

// embeddingForward({n, dim, vocab, ids, table, out})
Napi::Value EmbeddingForward(const Napi::CallbackInfo& info) {
  const Params p(info, "embeddingForward");
  const int64_t n = p.dim("n"), dim = p.dim("dim"), vocab = p.dim("vocab");
  const int32_t* ids = checked_ids(p, n, vocab);
  const float* table = p.floats("table", p.checked_mul(vocab, dim));
  float* out = p.floats("out", p.checked_mul(n, dim));
  embedding_forward(ids, n, dim, table, out);
  return info.Env().Undefined();
}

// embeddingBackward({n, dim, vocab, ids, dy, dtable})
Napi::Value EmbeddingBackward(const Napi::CallbackInfo& info) {
  const Params p(info, "embeddingBackward");
  const int64_t n = p.dim("n"), dim = p.dim("dim"), vocab = p.dim("vocab");
  const int32_t* ids = checked_ids(p, n, vocab);
  const float* dy = p.floats("dy", p.checked_mul(n, dim));
  float* dtable = p.floats("dtable", p.checked_mul(vocab, dim));
  embedding_backward(ids, n, dim, dy, dtable);
  return info.Env().Undefined();
}

// rope({rows, heads, headDim, rotaryDim, rowStride, x, positions, theta, interleaved, inverse})
Napi::Value Rope(const Napi::CallbackInfo& info) {
  const Params p(info, "rope");
  RopeArgs a;
  a.rows = p.dim("rows"), a.heads = p.dim("heads"), a.head_dim = p.dim("headDim");
  a.rotary_dim = p.dim("rotaryDim"), a.row_stride = p.dim("rowStride");
  if (a.rotary_dim % 2 != 0 || a.rotary_dim > a.head_dim)
    p.fail_range("rotaryDim must be even and at most headDim " + std::to_string(a.head_dim) + ", got " +
                 std::to_string(a.rotary_dim));
  const int64_t row_width = p.checked_mul(a.heads, a.head_dim);
  if (a.rows > 1 && a.row_stride < row_width)
    p.fail_range("rowStride must be at least heads * headDim = " + std::to_string(row_width) + ", got " +
                 std::to_string(a.row_stride));
  const float theta = p.f32("theta");
  if (!(theta > 0.0f) || std::isinf(theta)) p.fail_range("theta must be finite and > 0, got " + Params::show(theta));
  a.theta = theta;
  a.interleaved = p.boolean("interleaved");
  a.inverse = p.boolean("inverse");
  const int64_t span = a.rows == 0 ? 0 : p.checked_add(p.checked_mul(a.rows - 1, a.row_stride), row_width);
  a.x = p.floats("x", span);
  a.positions = p.int32s("positions", a.rows);
  rope(a);
  return info.Env().Undefined();
}

// Every target in [0, vocab) or equal to ignoreIndex, checked before the kernel runs.
const int32_t* checked_targets(const Params& p, int64_t rows, int64_t vocab, int32_t ignore_index) {
  const int32_t* t = p.int32s("targets", rows);
  for (int64_t r = 0; r < rows; ++r)
    if (t[r] != ignore_index && (t[r] < 0 || t[r] >= vocab))
      p.fail_range("row " + std::to_string(r) + " has target " + std::to_string(t[r]) + ", outside [0, " +
                   std::to_string(vocab) + ") (vocab " + std::to_string(vocab) + ") and not ignoreIndex " +
                   std::to_string(ignore_index));
  return t;
}

// crossEntropyForward({rows, vocab, logits, targets, ignoreIndex, losses, lse}) -> counted rows
Napi::Value CrossEntropyForward(const Napi::CallbackInfo& info) {
  const Params p(info, "crossEntropyForward");
  const int64_t rows = p.dim("rows"), vocab = p.dim("vocab");
  const int32_t ignore_index = p.int32("ignoreIndex");
  const float* logits = p.floats("logits", p.checked_mul(rows, vocab));
  const int32_t* targets = checked_targets(p, rows, vocab, ignore_index);
  float* losses = p.floats("losses", rows);
  float* lse = p.floats("lse", rows);
  const int64_t counted = cross_entropy_forward(logits, targets, rows, vocab, ignore_index, losses, lse);
  return Napi::Number::New(info.Env(), static_cast<double>(counted));
}

// crossEntropyBackward({rows, vocab, logits, targets, ignoreIndex, lse, gradScale, dlogits})
Napi::Value CrossEntropyBackward(const Napi::CallbackInfo& info) {
  const Params p(info, "crossEntropyBackward");
  const int64_t rows = p.dim("rows"), vocab = p.dim("vocab");
  const int32_t ignore_index = p.int32("ignoreIndex");
  const float grad_scale = p.f32_value("gradScale");
  const int64_t n = p.checked_mul(rows, vocab);
  const float* logits = p.floats("logits", n);
  const int32_t* targets = checked_targets(p, rows, vocab, ignore_index);
  const float* lse = p.floats("lse", rows);
  float* dlogits = p.floats("dlogits", n);
  cross_entropy_backward(logits, targets, lse, rows, vocab, ignore_index, grad_scale, dlogits);
  return info.Env().Undefined();
}

}  // namespace

void register_model(Napi::Env env, Napi::Object exports) {
  exports.Set("unaryBackward", Napi::Function::New(env, UnaryBackward, "unaryBackward"));
  exports.Set("softmaxBackward", Napi::Function::New(env, SoftmaxBackward, "softmaxBackward"));
  exports.Set("columnSum", Napi::Function::New(env, ColumnSum, "columnSum"));
  exports.Set("stridedScatter", Napi::Function::New(env, StridedScatter, "stridedScatter"));
  exports.Set("rmsNormForward", Napi::Function::New(env, RmsNormForward, "rmsNormForward"));
  exports.Set("rmsNormBackward", Napi::Function::New(env, RmsNormBackward, "rmsNormBackward"));
  exports.Set("layerNormForward", Napi::Function::New(env, LayerNormForward, "layerNormForward"));
  exports.Set("layerNormBackward", Napi::Function::New(env, LayerNormBackward, "layerNormBackward"));
  exports.Set("embeddingForward", Napi::Function::New(env, EmbeddingForward, "embeddingForward"));
  exports.Set("embeddingBackward", Napi::Function::New(env, EmbeddingBackward, "embeddingBackward"));
  exports.Set("rope", Napi::Function::New(env, Rope, "rope"));
  exports.Set("crossEntropyForward", Napi::Function::New(env, CrossEntropyForward, "crossEntropyForward"));
  exports.Set("crossEntropyBackward", Napi::Function::New(env, CrossEntropyBackward, "crossEntropyBackward"));
}

}  // namespace peftjs
