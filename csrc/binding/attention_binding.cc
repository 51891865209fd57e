// Fused attention as N-API functions (CPU). Every size, stride and buffer length is checked against the
// shapes before csrc/kernels/attention.cc touches memory; buffer lengths follow from the row strides,
// since q, k, v (and dq, dk, dv) may be column slices of one fused matrix.
#include <cmath>
#include <string>

#include "../kernels/attention.h"
#include "args.h"
#include "bindings.h"

namespace peftjs {
namespace {

using std::to_string;

// The leading arguments shared by forward and backward:
// (batch, tq, tk, qHeads, kvHeads, headDim, scale, causal, keyMask|null, q, qStride, k, kStride, v, vStride).
constexpr size_t kShared = 15;

// Elements a [rows, heads * headDim] view with `stride` between rows spans, after checking the stride.
int64_t heads_span(const Args& args, const char* name, int64_t rows, int64_t width, int64_t stride,
                   const char* width_text) {
  if (stride < width)
    args.fail_range(std::string("rowStride of '") + name + "' is " + to_string(stride) + ", expected at least " +
                    width_text + " = " + to_string(width));
  if (rows == 0) return 0;
  return args.checked_add(args.checked_mul(rows - 1, stride), width);
}

const int32_t* key_mask(const Args& args, size_t i, int64_t needed) {
  if (args.is_null(i)) return nullptr;
  const Napi::Value v = args.value(i);
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
    args.fail_type("argument 'keyMask' must be an Int32Array or null, got " + Args::type_of(v));
  Napi::Int32Array arr = v.As<Napi::Int32Array>();
  const int64_t length = static_cast<int64_t>(arr.ElementLength());
  if (length < needed)
    args.fail_range("argument 'keyMask' has " + to_string(length) + " elements, expected at least batch * tk = " +
                    to_string(needed));
  return arr.Data();
}

// Reads and checks the shared arguments; the float buffers are checked against their spans.
AttentionArgs shared_args(const Args& args) {
  AttentionArgs a;
  a.batch = args.dim(0, "batch"), a.tq = args.dim(1, "tq"), a.tk = args.dim(2, "tk");
  a.q_heads = args.dim(3, "qHeads"), a.kv_heads = args.dim(4, "kvHeads"), a.head_dim = args.dim(5, "headDim");
  if (a.head_dim == 0) args.fail_range("headDim must be at least 1, got 0");
  if (a.kv_heads == 0 || a.q_heads == 0 || a.q_heads % a.kv_heads != 0)
    args.fail_range("kvHeads must be at least 1 and divide qHeads, got qHeads " + to_string(a.q_heads) + " and kvHeads " +
                    to_string(a.kv_heads));
  const double scale = args.number(6, "scale");
  if (!std::isfinite(scale)) args.fail_range("scale must be finite, got " + Args::show(scale));
  a.scale = static_cast<float>(scale);
  a.causal = args.boolean(7, "causal");
  a.key_mask = key_mask(args, 8, args.checked_mul(a.batch, a.tk));
  const int64_t qw = args.checked_mul(a.q_heads, a.head_dim), kw = args.checked_mul(a.kv_heads, a.head_dim);
  const int64_t qrows = args.checked_mul(a.batch, a.tq), krows = args.checked_mul(a.batch, a.tk);
  a.q_stride = args.dim(10, "qStride"), a.k_stride = args.dim(12, "kStride"), a.v_stride = args.dim(14, "vStride");
  a.q = args.floats(9, "q", heads_span(args, "q", qrows, qw, a.q_stride, "qHeads * headDim")).data;
  a.k = args.floats(11, "k", heads_span(args, "k", krows, kw, a.k_stride, "kvHeads * headDim")).data;
  a.v = args.floats(13, "v", heads_span(args, "v", krows, kw, a.v_stride, "kvHeads * headDim")).data;
  return a;
}

// attentionForward(<shared 15>, out, lse)
Napi::Value AttentionForward(const Napi::CallbackInfo& info) {
  Args args(info, "attentionForward", kShared + 2);
  const AttentionArgs a = shared_args(args);
  const int64_t out_len = args.checked_mul(args.checked_mul(a.batch, a.tq), args.checked_mul(a.q_heads, a.head_dim));
  float* out = args.floats(15, "out", out_len).data;
  float* lse = args.floats(16, "lse", args.checked_mul(args.checked_mul(a.batch, a.q_heads), a.tq)).data;
  attention_forward(a, out, lse);
  return info.Env().Undefined();
}

// attentionBackward(<shared 15>, out, lse, dout, dq, dqStride, dk, dkStride, dv, dvStride)
Napi::Value AttentionBackward(const Napi::CallbackInfo& info) {
  Args args(info, "attentionBackward", kShared + 9);
  const AttentionArgs a = shared_args(args);
  const int64_t qw = args.checked_mul(a.q_heads, a.head_dim), kw = args.checked_mul(a.kv_heads, a.head_dim);
  const int64_t qrows = args.checked_mul(a.batch, a.tq), krows = args.checked_mul(a.batch, a.tk);
  const int64_t out_len = args.checked_mul(qrows, qw);
  const float* out = args.floats(15, "out", out_len).data;
  const float* lse = args.floats(16, "lse", args.checked_mul(args.checked_mul(a.batch, a.q_heads), a.tq)).data;
  const float* dout = args.floats(17, "dout", out_len).data;
  const int64_t dqs = args.dim(19, "dqStride"), dks = args.dim(21, "dkStride"), dvs = args.dim(23, "dvStride");
  float* dq = args.floats(18, "dq", heads_span(args, "dq", qrows, qw, dqs, "qHeads * headDim")).data;
  float* dk = args.floats(20, "dk", heads_span(args, "dk", krows, kw, dks, "kvHeads * headDim")).data;
  float* dv = args.floats(22, "dv", heads_span(args, "dv", krows, kw, dvs, "kvHeads * headDim")).data;
  attention_backward(a, out, lse, dout, dq, dqs, dk, dks, dv, dvs);
  return info.Env().Undefined();
}

}  // namespace

void register_attention(Napi::Env env, Napi::Object exports) {
  exports.Set("attentionForward", Napi::Function::New(env, AttentionForward, "attentionForward"));
  exports.Set("attentionBackward", Napi::Function::New(env, AttentionBackward, "attentionBackward"));
}

}  // namespace peftjs
