// The (IA)3 scaling kernels (csrc/kernels/ia3) as N-API functions. Each takes one params object, the TypeScript
// kernel's own (lib/ops/ia3/kernel.ts) with buffers as Float32Arrays, and checks every size and buffer before
// the kernel runs: the kernels trust their arguments.
#include "../kernels/ia3/ia3.h"
#include "args.h"
#include "bindings.h"

namespace peftjs {
namespace {

Ia3Args ia3_args(const Params& p) {
  Ia3Args a;
  const std::string mode = p.string("mode");
  if (mode == "output") a.mode = Ia3Mode::Output;
  else if (mode == "input") a.mode = Ia3Mode::Input;
  else p.fail_range("mode must be 'output' or 'input', got '" + mode + "'");
  a.t = p.dim("T"), a.k = p.dim("K"), a.n = p.dim("N");
  a.x = p.floats("x", p.checked_mul(a.t, a.k));
  a.w = p.floats("w", p.checked_mul(a.n, a.k));
  a.l = p.floats("l", a.mode == Ia3Mode::Output ? a.n : a.k);
  return a;
}

// ia3Forward({mode, T, K, N, x, w, bias|null, l, y, yPre|null})
Napi::Value Ia3Forward(const Napi::CallbackInfo& info) {
  const Params p(info, "ia3Forward");
  Ia3Args a = ia3_args(p);
  a.bias = p.opt_floats("bias", a.n);
  float* y = p.floats("y", p.checked_mul(a.t, a.n));
  float* y_pre = p.opt_floats("yPre", p.checked_mul(a.t, a.n));
  ia3_forward(a, y, y_pre);
  return info.Env().Undefined();
}

// ia3Backward({mode, T, K, N, x, w, l, dy, yPre|null, dx|null, dl})
Napi::Value Ia3Backward(const Napi::CallbackInfo& info) {
  const Params p(info, "ia3Backward");
  const Ia3Args a = ia3_args(p);
  const float* dy = p.floats("dy", p.checked_mul(a.t, a.n));
  const float* y_pre = p.opt_floats("yPre", p.checked_mul(a.t, a.n));
  if (a.mode == Ia3Mode::Output && y_pre == nullptr) p.fail_range("output scaling needs yPre (the unscaled output) for dl");
  float* dx = p.opt_floats("dx", p.checked_mul(a.t, a.k));
  float* dl = p.floats("dl", a.mode == Ia3Mode::Output ? a.n : a.k);
  ia3_backward(a, dy, y_pre, dx, dl);
  return info.Env().Undefined();
}

}  // namespace

void register_ia3(Napi::Env env, Napi::Object exports) {
  set_functions(env, exports, {{"ia3Forward", Ia3Forward}, {"ia3Backward", Ia3Backward}});
}

}  // namespace peftjs
