// The model kernels (gradients of elementwise ops, norms, embeddings, RoPE, cross-entropy) as N-API
// functions, CPU only. Every size, buffer and integer input (ids, targets, positions) is checked here,
// before the kernel runs: the kernels in csrc/kernels trust their arguments.
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

float* opt_floats(const Args& args, size_t i, const char* name, int64_t needed) {
  return args.is_null(i) ? nullptr : args.floats(i, name, needed).data;
}

float non_negative(const Args& args, size_t i, const char* name) {
  const float v = args.f32(i, name);
  if (!(v >= 0.0f) || std::isinf(v)) args.fail_range(std::string(name) + " must be finite and >= 0, got " + Args::show(v));
  return v;
}

// unaryBackward(op, x, dy, dx, n)
Napi::Value UnaryBackward(const Napi::CallbackInfo& info) {
  Args args(info, "unaryBackward", 5);
  const UnaryOp op = unary_op(args, args.string(0, "op"));
  const int64_t n = args.dim(4, "n");
  const float* x = args.floats(1, "x", n).data;
  const float* dy = args.floats(2, "dy", n).data;
  float* dx = args.floats(3, "dx", n).data;
  unary_backward(op, x, dy, dx, n);
  return info.Env().Undefined();
}

// softmaxBackward(y, dy, dx, rows, cols)
Napi::Value SoftmaxBackward(const Napi::CallbackInfo& info) {
  Args args(info, "softmaxBackward", 5);
  const int64_t rows = args.dim(3, "rows"), cols = args.dim(4, "cols");
  const int64_t n = args.checked_mul(rows, cols);
  const float* y = args.floats(0, "y", n).data;
  const float* dy = args.floats(1, "dy", n).data;
  float* dx = args.floats(2, "dx", n).data;
  softmax_backward(y, dy, dx, rows, cols);
  return info.Env().Undefined();
}

// columnSum(a, out, rows, cols, beta)
Napi::Value ColumnSum(const Napi::CallbackInfo& info) {
  Args args(info, "columnSum", 5);
  const int64_t rows = args.dim(2, "rows"), cols = args.dim(3, "cols");
  const float beta = args.f32(4, "beta");
  const float* a = args.floats(0, "a", args.checked_mul(rows, cols)).data;
  float* out = args.floats(1, "out", cols).data;
  column_sum(a, out, rows, cols, beta);
  return info.Env().Undefined();
}

// stridedScatter(src, dst, shape, strides): dst is the view's storage from its offset on.
Napi::Value StridedScatter(const Napi::CallbackInfo& info) {
  Args args(info, "stridedScatter", 4);
  const std::vector<int64_t> shape = dim_list(args, info[2], "shape");
  const std::vector<int64_t> strides = dim_list(args, info[3], "strides");
  if (shape.size() != strides.size())
    args.fail_range("shape has " + std::to_string(shape.size()) + " dimensions but strides has " + std::to_string(strides.size()));
  int64_t total = 1, last = 0;
  for (size_t d = 0; d < shape.size(); ++d) {
    total = args.checked_mul(total, shape[d]);
    if (shape[d] > 0) last = args.checked_add(last, args.checked_mul(shape[d] - 1, strides[d]));
  }
  const float* src = args.floats(0, "src", total).data;
  float* dst = args.floats(1, "dst", total == 0 ? 0 : last + 1).data;
  strided_scatter(src, dst, shape.data(), strides.data(), static_cast<int>(shape.size()));
  return info.Env().Undefined();
}

NormArgs norm_args(const Args& args, size_t weight_at, size_t eps_at) {
  NormArgs p;
  p.rows = args.dim(0, "rows");
  p.cols = args.dim(1, "cols");
  if (p.cols == 0) args.fail_range("cols must be at least 1");
  p.eps = non_negative(args, eps_at, "eps");
  p.x = args.floats(2, "x", args.checked_mul(p.rows, p.cols)).data;
  p.weight = opt_floats(args, weight_at, "weight", p.cols);
  return p;
}

// rmsNormForward(rows, cols, x, weight|null, eps, y, rstd)
Napi::Value RmsNormForward(const Napi::CallbackInfo& info) {
  Args args(info, "rmsNormForward", 7);
  const NormArgs p = norm_args(args, 3, 4);
  float* y = args.floats(5, "y", p.rows * p.cols).data;
  float* rstd = args.floats(6, "rstd", p.rows).data;
  rms_norm_forward(p, y, rstd);
  return info.Env().Undefined();
}

// rmsNormBackward(rows, cols, x, weight|null, eps, rstd, dy, dx, dweight|null)
Napi::Value RmsNormBackward(const Napi::CallbackInfo& info) {
  Args args(info, "rmsNormBackward", 9);
  const NormArgs p = norm_args(args, 3, 4);
  const float* rstd = args.floats(5, "rstd", p.rows).data;
  const float* dy = args.floats(6, "dy", p.rows * p.cols).data;
  float* dx = args.floats(7, "dx", p.rows * p.cols).data;
  float* dweight = opt_floats(args, 8, "dweight", p.cols);
  rms_norm_backward(p, rstd, dy, dx, dweight);
  return info.Env().Undefined();
}

// layerNormForward(rows, cols, x, weight|null, bias|null, eps, y, mean, rstd)
Napi::Value LayerNormForward(const Napi::CallbackInfo& info) {
  Args args(info, "layerNormForward", 9);
  const NormArgs p = norm_args(args, 3, 5);
  const float* bias = opt_floats(args, 4, "bias", p.cols);
  float* y = args.floats(6, "y", p.rows * p.cols).data;
  float* mean = args.floats(7, "mean", p.rows).data;
  float* rstd = args.floats(8, "rstd", p.rows).data;
  layer_norm_forward(p, bias, y, mean, rstd);
  return info.Env().Undefined();
}

// layerNormBackward(rows, cols, x, weight|null, eps, mean, rstd, dy, dx, dweight|null, dbias|null)
Napi::Value LayerNormBackward(const Napi::CallbackInfo& info) {
  Args args(info, "layerNormBackward", 11);
  const NormArgs p = norm_args(args, 3, 4);
  const float* mean = args.floats(5, "mean", p.rows).data;
  const float* rstd = args.floats(6, "rstd", p.rows).data;
  const float* dy = args.floats(7, "dy", p.rows * p.cols).data;
  float* dx = args.floats(8, "dx", p.rows * p.cols).data;
  float* dweight = opt_floats(args, 9, "dweight", p.cols);
  float* dbias = opt_floats(args, 10, "dbias", p.cols);
  layer_norm_backward(p, mean, rstd, dy, dx, dweight, dbias);
  return info.Env().Undefined();
}

// Every id in [0, vocab), checked before any row is read or written.
const int32_t* checked_ids(const Args& args, size_t i, int64_t n, int64_t vocab) {
  const int32_t* ids = int32s(args, i, "ids", n);
  for (int64_t k = 0; k < n; ++k)
    if (ids[k] < 0 || ids[k] >= vocab)
      args.fail_range("ids[" + std::to_string(k) + "] = " + std::to_string(ids[k]) + " is out of range [0, " +
                      std::to_string(vocab) + ") (vocab " + std::to_string(vocab) + ")");
  return ids;
}

// embeddingForward(n, dim, vocab, ids, table, out)
Napi::Value EmbeddingForward(const Napi::CallbackInfo& info) {
  Args args(info, "embeddingForward", 6);
  const int64_t n = args.dim(0, "n"), dim = args.dim(1, "dim"), vocab = args.dim(2, "vocab");
  const int32_t* ids = checked_ids(args, 3, n, vocab);
  const float* table = args.floats(4, "table", args.checked_mul(vocab, dim)).data;
  float* out = args.floats(5, "out", args.checked_mul(n, dim)).data;
  embedding_forward(ids, n, dim, table, out);
  return info.Env().Undefined();
}

// embeddingBackward(n, dim, vocab, ids, dy, dtable)
Napi::Value EmbeddingBackward(const Napi::CallbackInfo& info) {
  Args args(info, "embeddingBackward", 6);
  const int64_t n = args.dim(0, "n"), dim = args.dim(1, "dim"), vocab = args.dim(2, "vocab");
  const int32_t* ids = checked_ids(args, 3, n, vocab);
  const float* dy = args.floats(4, "dy", args.checked_mul(n, dim)).data;
  float* dtable = args.floats(5, "dtable", args.checked_mul(vocab, dim)).data;
  embedding_backward(ids, n, dim, dy, dtable);
  return info.Env().Undefined();
}

// rope(rows, heads, headDim, rotaryDim, rowStride, x, positions, theta, interleaved, inverse)
Napi::Value Rope(const Napi::CallbackInfo& info) {
  Args args(info, "rope", 10);
  RopeArgs p;
  p.rows = args.dim(0, "rows"), p.heads = args.dim(1, "heads"), p.head_dim = args.dim(2, "headDim");
  p.rotary_dim = args.dim(3, "rotaryDim"), p.row_stride = args.dim(4, "rowStride");
  if (p.rotary_dim % 2 != 0 || p.rotary_dim > p.head_dim)
    args.fail_range("rotaryDim must be even and at most headDim " + std::to_string(p.head_dim) + ", got " +
                    std::to_string(p.rotary_dim));
  const int64_t row_width = args.checked_mul(p.heads, p.head_dim);
  if (p.rows > 1 && p.row_stride < row_width)
    args.fail_range("rowStride must be at least heads * headDim = " + std::to_string(row_width) + ", got " +
                    std::to_string(p.row_stride));
  const float theta = args.f32(7, "theta");
  if (!(theta > 0.0f) || std::isinf(theta)) args.fail_range("theta must be finite and > 0, got " + Args::show(theta));
  p.theta = theta;
  p.interleaved = args.boolean(8, "interleaved");
  p.inverse = args.boolean(9, "inverse");
  const int64_t span = p.rows == 0 ? 0 : args.checked_add(args.checked_mul(p.rows - 1, p.row_stride), row_width);
  p.x = args.floats(5, "x", span).data;
  p.positions = int32s(args, 6, "positions", p.rows);
  rope(p);
  return info.Env().Undefined();
}

// Every target in [0, vocab) or equal to ignoreIndex, checked before the kernel runs.
const int32_t* checked_targets(const Args& args, size_t i, int64_t rows, int64_t vocab, int32_t ignore_index) {
  const int32_t* t = int32s(args, i, "targets", rows);
  for (int64_t r = 0; r < rows; ++r)
    if (t[r] != ignore_index && (t[r] < 0 || t[r] >= vocab))
      args.fail_range("row " + std::to_string(r) + " has target " + std::to_string(t[r]) + ", outside [0, " +
                      std::to_string(vocab) + ") (vocab " + std::to_string(vocab) + ") and not ignoreIndex " +
                      std::to_string(ignore_index));
  return t;
}

// crossEntropyForward(rows, vocab, logits, targets, ignoreIndex, losses, lse) -> counted rows
Napi::Value CrossEntropyForward(const Napi::CallbackInfo& info) {
  Args args(info, "crossEntropyForward", 7);
  const int64_t rows = args.dim(0, "rows"), vocab = args.dim(1, "vocab");
  const int32_t ignore_index = int32_value(args, 4, "ignoreIndex");
  const float* logits = args.floats(2, "logits", args.checked_mul(rows, vocab)).data;
  const int32_t* targets = checked_targets(args, 3, rows, vocab, ignore_index);
  float* losses = args.floats(5, "losses", rows).data;
  float* lse = args.floats(6, "lse", rows).data;
  const int64_t counted = cross_entropy_forward(logits, targets, rows, vocab, ignore_index, losses, lse);
  return Napi::Number::New(info.Env(), static_cast<double>(counted));
}

// crossEntropyBackward(rows, vocab, logits, targets, ignoreIndex, lse, gradScale, dlogits)
Napi::Value CrossEntropyBackward(const Napi::CallbackInfo& info) {
  Args args(info, "crossEntropyBackward", 8);
  const int64_t rows = args.dim(0, "rows"), vocab = args.dim(1, "vocab");
  const int32_t ignore_index = int32_value(args, 4, "ignoreIndex");
  const float grad_scale = args.f32_value(6, "gradScale");
  const int64_t n = args.checked_mul(rows, vocab);
  const float* logits = args.floats(2, "logits", n).data;
  const int32_t* targets = checked_targets(args, 3, rows, vocab, ignore_index);
  const float* lse = args.floats(5, "lse", rows).data;
  float* dlogits = args.floats(7, "dlogits", n).data;
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
