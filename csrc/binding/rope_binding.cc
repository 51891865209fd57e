// Rotary position embedding (csrc/kernels/rope, cuda/rope.cu) as N-API functions, for the CPU (Float32Arrays)
// and, prefixed cuda, for CUDA ([handle, offset] device views; the positions are uploaded). Each takes one
// params object, the TypeScript kernel's own (lib/ops/rope/kernel.ts), and checks every size and buffer
// before the kernel runs: the kernels trust their arguments.
#include "../../cuda/device_api.h"
#include "../kernels/rope/rope.h"
#include "args.h"
#include "bindings.h"
#include "buffers.h"

namespace peftjs {
namespace {

// rope({rows, heads, headDim, rotaryDim, rowStride, x, positions, theta, interleaved, inverse})
struct CpuRope : HostBuffers {
  static void rope(const Params&, const RopeArgs& a) { peftjs::rope(a); }
};

struct CudaRope : DeviceBuffers {
  static void rope(const Params& p, const RopeArgs& a) { run(p, cuda::rope, a); }
};

// rope({rows, heads, headDim, rotaryDim, rowStride, x, positions, theta, interleaved, inverse, invFreq?, attentionFactor?})
template <class D>
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
  // RoPE scaling (lib/ops/rope/kernel.ts checks the same, with the same messages): host values on both entries.
  const int64_t half = a.rotary_dim / 2;
  const Napi::Value inv = p.value("invFreq");
  if (!inv.IsNull() && !inv.IsUndefined()) {
    if (!inv.IsTypedArray() || inv.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
      p.fail_type("argument 'invFreq' must be a Float32Array or null, got " + Params::type_of(inv));
    const Napi::Float32Array arr = inv.As<Napi::Float32Array>();
    if (static_cast<int64_t>(arr.ElementLength()) != half)
      p.fail_range("invFreq must hold rotaryDim / 2 = " + std::to_string(half) + " values, got " +
                   std::to_string(arr.ElementLength()));
    for (int64_t i = 0; i < half; ++i)
      if (!std::isfinite(arr[static_cast<size_t>(i)]))
        p.fail_range("invFreq[" + std::to_string(i) + "] must be finite, got " + Params::show(arr[static_cast<size_t>(i)]));
    a.inv_freq = arr.Data();
  }
  if (!p.value("attentionFactor").IsUndefined()) {
    const double af = p.number("attentionFactor");
    if (!(af > 0.0) || std::isinf(af)) p.fail_range("attentionFactor must be finite and > 0, got " + Params::show(af));
    a.attention_factor = static_cast<float>(af);
  }
  const int64_t span = a.rows == 0 ? 0 : p.checked_add(p.checked_mul(a.rows - 1, a.row_stride), row_width);
  a.x = D::view(p, "x", span);
  const typename D::Ints positions(p, p.int32s("positions", a.rows), a.rows);
  a.positions = positions.get();
  D::rope(p, a);
  return info.Env().Undefined();
}

}  // namespace

void register_rope(Napi::Env env, Napi::Object exports) {
  set_functions(env, exports, {{"rope", Rope<CpuRope>}, {"cudaRope", Rope<CudaRope>}});
}

}  // namespace peftjs
