// Fused attention as N-API functions, for the CPU (buffers as Float32Arrays) and, prefixed cuda, for CUDA
// (buffers as [handle, offset] device views; cuda/attention.cu), both from one template. Each takes one params
// object, the TypeScript kernel's own (lib/ops/attention/kernel.ts), with q, k, v (and dq, dk, dv) as
// {buf, rowStride} views; keyMask is a host Int32Array for both (the CUDA entries upload it once every
// argument has passed). Every size, stride and buffer length is checked against the shapes before a kernel
// touches memory; buffer lengths follow from the row strides, since q, k, v may be column slices of one fused
// matrix. lib/ops/attention/kernel.ts holds the same checks, with the same messages, for every backend.
#include <cmath>
#include <string>

#include "../../cuda/device_api.h"
#include "../kernels/attention/attention.h"
#include "args.h"
#include "bindings.h"
#include "buffers.h"
#include "device_handle.h"

namespace peftjs {
namespace {

using std::to_string;

// A number as JavaScript's String(v) writes it, so messages read as the TypeScript checks' do.
std::string js_show(const Params& p, double v) {
  return Napi::Number::New(p.env(), v).ToString().Utf8Value();
}

struct CpuAttention : HostBuffers {
  // The Float32Array in a view's buf field.
  static float* buf_of(const Params& p, const Napi::Value& v, const char* name, int64_t needed) {
    return p.floats_of(v, name, needed).data;
  }
  static void forward(const Params&, const AttentionArgs& a, float* out, float* lse) { attention_forward(a, out, lse); }
  static void backward(const Params&, const AttentionArgs& a, const float* out, const float* lse, const float* dout,
                       float* dq, int64_t dq_stride, float* dk, int64_t dk_stride, float* dv, int64_t dv_stride) {
    attention_backward(a, out, lse, dout, dq, dq_stride, dk, dk_stride, dv, dv_stride);
  }
};

struct CudaAttention : DeviceBuffers {
  // The [handle, offset] device view in a view's buf field.
  static float* buf_of(const Params& p, const Napi::Value& v, const char* name, int64_t needed) {
    return device_view_of(p, v, name, needed);
  }
  static void forward(const Params& p, const AttentionArgs& a, float* out, float* lse) {
    run(p, cuda::attention_forward, a, out, lse);
  }
  static void backward(const Params& p, const AttentionArgs& a, const float* out, const float* lse, const float* dout,
                       float* dq, int64_t dq_stride, float* dk, int64_t dk_stride, float* dv, int64_t dv_stride) {
    run(p, cuda::attention_backward, a, out, lse, dout, dq, dq_stride, dk, dk_stride, dv, dv_stride);
  }
};

// A [rows, heads * headDim] view {buf, rowStride}: checks the stride, then the buffer against the elements
// the view spans ((rows - 1) * rowStride + width).
struct HeadsArg {
  float* data;
  int64_t stride;
};

template <class D>
HeadsArg heads_view(const Params& p, const char* name, const char* buf_name, const char* stride_name, int64_t rows,
                    int64_t width, const char* width_text) {
  const Napi::Object view = p.object(name);
  const int64_t stride = p.dim_of(view.Get("rowStride"), stride_name);
  if (stride < width)
    p.fail_range(std::string("rowStride of '") + name + "' is " + to_string(stride) + ", expected at least " +
                 width_text + " = " + to_string(width));
  const int64_t span = rows == 0 ? 0 : p.checked_add(p.checked_mul(rows - 1, stride), width);
  return {D::buf_of(p, view.Get("buf"), buf_name, span), stride};
}

// The key mask as host memory (checked here; the CUDA entries upload it once every argument has passed).
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

// Reads and checks what both directions share: sizes, scale, causal, window, softcap, keyMask, and the q, k,
// v views.
// a.key_mask is left pointing at host memory; the entries swap in D::Ints' pointer.
template <class D>
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
  // window and softcap are optional (absent or undefined = 0: none), as in lib/ops/attention/kernel.ts.
  a.window = p.value("window").IsUndefined() ? 0 : p.dim("window");
  double softcap = 0;
  if (!p.value("softcap").IsUndefined()) {
    softcap = p.number("softcap");
    if (!(softcap >= 0) || !std::isfinite(softcap))
      p.fail_range("softcap must be a finite number >= 0 (0: none), got " + js_show(p, softcap));
  }
  a.softcap = static_cast<float>(softcap);
  a.key_mask = key_mask(p, p.checked_mul(a.batch, a.tk));
  s.qw = p.checked_mul(a.q_heads, a.head_dim), s.kw = p.checked_mul(a.kv_heads, a.head_dim);
  s.qrows = p.checked_mul(a.batch, a.tq), s.krows = p.checked_mul(a.batch, a.tk);
  const HeadsArg q = heads_view<D>(p, "q", "q.buf", "q.rowStride", s.qrows, s.qw, "qHeads * headDim");
  const HeadsArg k = heads_view<D>(p, "k", "k.buf", "k.rowStride", s.krows, s.kw, "kvHeads * headDim");
  const HeadsArg v = heads_view<D>(p, "v", "v.buf", "v.rowStride", s.krows, s.kw, "kvHeads * headDim");
  a.q = q.data, a.q_stride = q.stride;
  a.k = k.data, a.k_stride = k.stride;
  a.v = v.data, a.v_stride = v.stride;
  return a;
}

// attentionForward({batch, tq, tk, qHeads, kvHeads, headDim, scale, causal, window?, softcap?, keyMask|null, q, k, v,
// out, lse})
template <class D>
Napi::Value AttentionForward(const Napi::CallbackInfo& info) {
  const Params p(info, "attentionForward");
  Shape s;
  AttentionArgs a = shared_args<D>(p, s);
  float* out = D::view(p, "out", p.checked_mul(s.qrows, s.qw));
  float* lse = D::view(p, "lse", p.checked_mul(p.checked_mul(a.batch, a.q_heads), a.tq));
  typename D::Ints mask(p, a.key_mask, a.batch * a.tk);
  a.key_mask = mask.get();
  D::forward(p, a, out, lse);
  return info.Env().Undefined();
}

// attentionBackward({<forward's inputs>, out, lse, dout, dq, dk, dv}): dq, dk, dv are views as q, k, v are.
template <class D>
Napi::Value AttentionBackward(const Napi::CallbackInfo& info) {
  const Params p(info, "attentionBackward");
  Shape s;
  AttentionArgs a = shared_args<D>(p, s);
  const int64_t out_len = p.checked_mul(s.qrows, s.qw);
  const float* out = D::view(p, "out", out_len);
  const float* lse = D::view(p, "lse", p.checked_mul(p.checked_mul(a.batch, a.q_heads), a.tq));
  const float* dout = D::view(p, "dout", out_len);
  const HeadsArg dq = heads_view<D>(p, "dq", "dq.buf", "dq.rowStride", s.qrows, s.qw, "qHeads * headDim");
  const HeadsArg dk = heads_view<D>(p, "dk", "dk.buf", "dk.rowStride", s.krows, s.kw, "kvHeads * headDim");
  const HeadsArg dv = heads_view<D>(p, "dv", "dv.buf", "dv.rowStride", s.krows, s.kw, "kvHeads * headDim");
  typename D::Ints mask(p, a.key_mask, a.batch * a.tk);
  a.key_mask = mask.get();
  D::backward(p, a, out, lse, dout, dq.data, dq.stride, dk.data, dk.stride, dv.data, dv.stride);
  return info.Env().Undefined();
}

}  // namespace

void register_attention(Napi::Env env, Napi::Object exports) {
  set_functions(env, exports, {
      {"attentionForward", AttentionForward<CpuAttention>},
      {"attentionBackward", AttentionBackward<CpuAttention>},
      {"cudaAttentionForward", AttentionForward<CudaAttention>},
      {"cudaAttentionBackward", AttentionBackward<CudaAttention>},
  });
}

}  // namespace peftjs
