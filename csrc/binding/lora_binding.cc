// The fused LoRA linear kernels (csrc/kernels/lora) as N-API functions. Each takes one params object, the
// TypeScript kernel's own (lib/ops/lora/kernel.ts) with buffers as Float32Arrays, and checks every size and
// buffer before the kernel runs: the kernels trust their arguments.
#include "../kernels/lora/lora.h"
#include "args.h"
#include "bindings.h"

namespace peftjs {
namespace {

float unit_interval(const Params& p, const char* name) {
  const float v = p.f32(name);
  if (!(v >= 0.0f && v < 1.0f)) p.fail_range(std::string(name) + " must be in [0, 1), got " + Params::show(v));
  return v;
}

// What both LoRA directions share: sizes, rank >= 1, scale, dropout, its seed and row offset, x, W, A, B.
template <class LoraArgs>
void lora_common(const Params& p, LoraArgs& a) {
  a.t = p.dim("T"), a.k = p.dim("K"), a.n = p.dim("N"), a.r = p.dim("r");
  if (a.r == 0) p.fail_range("rank r must be at least 1");
  a.scale = p.f32("scale");
  a.dropout = unit_interval(p, "dropout");
  a.seed = static_cast<uint64_t>(p.dim("seed"));
  a.row_offset = p.dim("rowOffset");
  a.x = p.floats("x", p.checked_mul(a.t, a.k));
  a.w = p.opt_floats("w", p.checked_mul(a.n, a.k));
  a.a = p.floats("a", p.checked_mul(a.r, a.k));
  a.b = p.floats("b", p.checked_mul(a.n, a.r));
}

// loraForward({T, K, N, r, x, w|null, bias|null, a, b, scale, dropout, seed, rowOffset, u, y})
Napi::Value LoraForward(const Napi::CallbackInfo& info) {
  const Params p(info, "loraForward");
  LoraForwardArgs a;
  lora_common(p, a);
  a.bias = p.opt_floats("bias", a.n);
  if (a.bias != nullptr && a.w == nullptr) p.fail_range("bias is given without w (the bias belongs to the base layer)");
  a.u = p.floats("u", p.checked_mul(a.t, a.r));
  a.y = p.floats("y", p.checked_mul(a.t, a.n));
  lora_forward(a);
  return info.Env().Undefined();
}

// loraBackward({T, K, N, r, x, w|null, a, b, u, dy, scale, dropout, seed, rowOffset, dx|null, da, db, dbias|null})
Napi::Value LoraBackward(const Napi::CallbackInfo& info) {
  const Params p(info, "loraBackward");
  LoraBackwardArgs a;
  lora_common(p, a);
  a.u = p.floats("u", p.checked_mul(a.t, a.r));
  a.dy = p.floats("dy", p.checked_mul(a.t, a.n));
  a.dx = p.opt_floats("dx", p.checked_mul(a.t, a.k));
  a.da = p.floats("da", p.checked_mul(a.r, a.k));
  a.db = p.floats("db", p.checked_mul(a.n, a.r));
  a.dbias = p.opt_floats("dbias", a.n);
  lora_backward(a);
  return info.Env().Undefined();
}

}  // namespace

void register_lora(Napi::Env env, Napi::Object exports) {
  set_functions(env, exports, {{"loraForward", LoraForward}, {"loraBackward", LoraBackward}});
}

}  // namespace peftjs
