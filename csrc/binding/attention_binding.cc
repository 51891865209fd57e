// Fused attention as N-API functions (CPU). Each takes one params object, the TypeScript kernel's own
// (lib/ops/attention/kernel.ts) with buffers as Float32Arrays, q, k, v (and dq, dk, dv)
// as {buf, rowStride} views. Every size, stride and buffer length is checked against the shapes before
// csrc/kernels/attention/attention.cc touches memory; buffer lengths follow from the row strides, since q, k, v may
// be column slices of one fused matrix. lib/ops/attention/kernel.ts holds the same checks, with the
// same messages, for every backend.
#include <cmath>
#include <string>

#include "../kernels/attention/attention.h"
#include "args.h"
#include "bindings.h"

namespace peftjs {
namespace {

using std::to_string;

// A number as JavaScript's String(v) writes it, so messages read as the TypeScript checks' do.
std::string js_show(const Params& p, double v) {
  return Napi::Number::New(p.env(), v).ToString().Utf8Value();
}

// A [rows, heads * headDim] view {buf, rowStride}: checks the stride, then the buffer against the elements
// the view spans ((rows - 1) * rowStride + width).
struct HeadsArg {
  float* data;
  int64_t stride;
};

HeadsArg heads_view(const Params& p, const char* name, const char* buf_name, const char* stride_name, int64_t rows,
                    int64_t width, const char* width_text) {
  const Napi::Object view = p.object(name);
  const int64_t stride = p.dim_of(view.Get("rowStride"), stride_name);
  if (stride < width)
    p.fail_range(std::string("rowStride of '") + name + "' is " + to_string(stride) + ", expected at least " +
                 width_text + " = " + to_string(width));
  const int64_t span = rows == 0 ? 0 : p.checked_add(p.checked_mul(rows - 1, stride), width);
  return {p.floats_of(view.Get("buf"), buf_name, span).data, stride};
}

const int32_t* key_mask(const Params& p, int64_t needed) {
  if (p.is_null("keyMask")) return nullptr;
  const Napi::Value v = p.value("keyMask");
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
    p.fail_type("argument 'keyMask' must be an Int32Array or null, got " + Params::type_of(v));
  Napi::Int32Array arr = v.As<Napi::Int32Array>();
  const int64_t length = static_cast<int64_t>(arr.ElementLength());
  if (length < needed)
    p.fail_range("argument 'keyMask' has " + to_string(length) + " elements, expected at least batch * tk = " +
                 to_string(needed));
  return arr.Data();
}

// Sizes and widths of the views, read once by both directions.
struct Shape {
  int64_t qw, kw, qrows, krows;
};

// Reads and checks what both directions share: sizes, scale, causal, keyMask, and the q, k, v views.
AttentionArgs shared_args(const Params& p, Shape& s) {
  AttentionArgs a;
  a.batch = p.dim("batch"), a.tq = p.dim("tq"), a.tk = p.dim("tk");
  a.q_heads = p.dim("qHeads"), a.kv_heads = p.dim("kvHeads"), a.head_dim = p.dim("headDim");
  if (a.head_dim == 0) p.fail_range("headDim must be at least 1, got 0");
  if (a.kv_heads == 0 || a.q_heads == 0 || a.q_heads % a.kv_heads != 0)
    p.fail_range("kvHeads must be at least 1 and divide qHeads, got qHeads " + to_string(a.q_heads) + " and kvHeads " +
                 to_string(a.kv_heads));
  const double scale = p.number("scale");
  if (!std::isfinite(scale)) p.fail_range("scale must be finite, got " + js_show(p, scale));
  a.scale = static_cast<float>(scale);
  a.causal = p.boolean("causal");
  a.key_mask = key_mask(p, p.checked_mul(a.batch, a.tk));
  s.qw = p.checked_mul(a.q_heads, a.head_dim), s.kw = p.checked_mul(a.kv_heads, a.head_dim);
  s.qrows = p.checked_mul(a.batch, a.tq), s.krows = p.checked_mul(a.batch, a.tk);
  const HeadsArg q = heads_view(p, "q", "q.buf", "q.rowStride", s.qrows, s.qw, "qHeads * headDim");
  const HeadsArg k = heads_view(p, "k", "k.buf", "k.rowStride", s.krows, s.kw, "kvHeads * headDim");
  const HeadsArg v = heads_view(p, "v", "v.buf", "v.rowStride", s.krows, s.kw, "kvHeads * headDim");
  a.q = q.data, a.q_stride = q.stride;
  a.k = k.data, a.k_stride = k.stride;
  a.v = v.data, a.v_stride = v.stride;
  return a;
}

// attentionForward({batch, tq, tk, qHeads, kvHeads, headDim, scale, causal, keyMask|null, q, k, v, out, lse})
Napi::Value AttentionForward(const Napi::CallbackInfo& info) {
  const Params p(info, "attentionForward");
  Shape s;
  const AttentionArgs a = shared_args(p, s);
  float* out = p.floats("out", p.checked_mul(s.qrows, s.qw));
  float* lse = p.floats("lse", p.checked_mul(p.checked_mul(a.batch, a.q_heads), a.tq));
  attention_forward(a, out, lse);
  return info.Env().Undefined();
}

// attentionBackward({<forward's inputs>, out, lse, dout, dq, dk, dv}): dq, dk, dv are views as q, k, v are.
Napi::Value AttentionBackward(const Napi::CallbackInfo& info) {
  const Params p(info, "attentionBackward");
  Shape s;
  const AttentionArgs a = shared_args(p, s);
  const int64_t out_len = p.checked_mul(s.qrows, s.qw);
  const float* out = p.floats("out", out_len);
  const float* lse = p.floats("lse", p.checked_mul(p.checked_mul(a.batch, a.q_heads), a.tq));
  const float* dout = p.floats("dout", out_len);
  const HeadsArg dq = heads_view(p, "dq", "dq.buf", "dq.rowStride", s.qrows, s.qw, "qHeads * headDim");
  const HeadsArg dk = heads_view(p, "dk", "dk.buf", "dk.rowStride", s.krows, s.kw, "kvHeads * headDim");
  const HeadsArg dv = heads_view(p, "dv", "dv.buf", "dv.rowStride", s.krows, s.kw, "kvHeads * headDim");
  attention_backward(a, out, lse, dout, dq.data, dq.stride, dk.data, dk.stride, dv.data, dv.stride);
  return info.Env().Undefined();
}

}  // namespace

void register_attention(Napi::Env env, Napi::Object exports) {
  set_functions(env, exports, {{"attentionForward", AttentionForward}, {"attentionBackward", AttentionBackward}});
}

}  // namespace peftjs
