// The fused LoRA linear kernels (csrc/kernels/lora, cuda/lora.cu) as N-API functions, for the CPU and, prefixed
// cuda, for CUDA. Each takes one params object, the TypeScript kernel's own (lib/ops/lora/kernel.ts) with
// buffers as Float32Arrays or [handle, offset] device views, and checks every size and buffer before the
// kernel runs: the kernels trust their arguments.
#include "../../cuda/device_api.h"
#include "../kernels/lora/lora.h"
#include "args.h"
#include "bindings.h"
#include "buffers.h"

namespace peftjs {
namespace {

float unit_interval(const Params& p, const char* name) {
  const float v = p.f32(name);
  if (!(v >= 0.0f && v < 1.0f)) p.fail_range(std::string(name) + " must be in [0, 1), got " + Params::show(v));
  return v;
}

struct CpuLora : HostBuffers {
  static void forward(const Params&, const LoraForwardArgs& a) { lora_forward(a); }
  static void backward(const Params&, const LoraBackwardArgs& a) { lora_backward(a); }
};

struct CudaLora : DeviceBuffers {
  static void forward(const Params& p, const LoraForwardArgs& a) { run(p, cuda::lora_forward, a); }
  static void backward(const Params& p, const LoraBackwardArgs& a) { run(p, cuda::lora_backward, a); }
};

// What both LoRA directions share: sizes, rank >= 1, scale, dropout, its seed and row offset, x, W, A, B.
template <class D, class LoraArgs>
void lora_common(const Params& p, LoraArgs& a) {
  a.t = p.dim("T"), a.k = p.dim("K"), a.n = p.dim("N"), a.r = p.dim("r");
  if (a.r == 0) p.fail_range("rank r must be at least 1");
  a.scale = p.f32("scale");
  a.dropout = unit_interval(p, "dropout");
  a.seed = static_cast<uint64_t>(p.dim("seed"));
  a.row_offset = p.dim("rowOffset");
  a.x = D::view(p, "x", p.checked_mul(a.t, a.k));
  a.w = D::opt_view(p, "w", p.checked_mul(a.n, a.k));
  a.a = D::view(p, "a", p.checked_mul(a.r, a.k));
  a.b = D::view(p, "b", p.checked_mul(a.n, a.r));
}

// loraForward({T, K, N, r, x, w|null, bias|null, a, b, scale, dropout, seed, rowOffset, u, y})
template <class D>
Napi::Value LoraForward(const Napi::CallbackInfo& info) {
  const Params p(info, "loraForward");
  LoraForwardArgs a;
  lora_common<D>(p, a);
  a.bias = D::opt_view(p, "bias", a.n);
  if (a.bias != nullptr && a.w == nullptr) p.fail_range("bias is given without w (the bias belongs to the base layer)");
  a.u = D::view(p, "u", p.checked_mul(a.t, a.r));
  a.y = D::view(p, "y", p.checked_mul(a.t, a.n));
  D::forward(p, a);
  return info.Env().Undefined();
}

// loraBackward({T, K, N, r, x, w|null, a, b, u, dy, scale, dropout, seed, rowOffset, dx|null, da, db, dbias|null})
template <class D>
Napi::Value LoraBackward(const Napi::CallbackInfo& info) {
  const Params p(info, "loraBackward");
  LoraBackwardArgs a;
  lora_common<D>(p, a);
  a.u = D::view(p, "u", p.checked_mul(a.t, a.r));
  a.dy = D::view(p, "dy", p.checked_mul(a.t, a.n));
  a.dx = D::opt_view(p, "dx", p.checked_mul(a.t, a.k));
  a.da = D::view(p, "da", p.checked_mul(a.r, a.k));
  a.db = D::view(p, "db", p.checked_mul(a.n, a.r));
  a.dbias = D::opt_view(p, "dbias", a.n);
  D::backward(p, a);
  return info.Env().Undefined();
}

}  // namespace

void register_lora(Napi::Env env, Napi::Object exports) {
  set_functions(env, exports, {
      {"loraForward", LoraForward<CpuLora>},
      {"loraBackward", LoraBackward<CpuLora>},
      {"cudaLoraForward", LoraForward<CudaLora>},
      {"cudaLoraBackward", LoraBackward<CudaLora>},
  });
}

}  // namespace peftjs
