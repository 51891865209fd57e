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

// rope({rows, heads, headDim, rotaryDim, rowStride, x, positions, theta, interleaved, inverse})
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
