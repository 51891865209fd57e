// The BitFit backward (csrc/kernels/bitfit) as N-API functions. Each takes one params object, the TypeScript
// kernel's own (lib/ops/bitfit/kernel.ts) with buffers as Float32Arrays, and checks every size and buffer before
// the kernel runs: the kernels trust their arguments.
#include "../kernels/bitfit/bitfit.h"
#include "args.h"
#include "bindings.h"

namespace peftjs {
namespace {

// bitfitBackward({T, K, N, dy, w, dx|null, dbias})
Napi::Value BitfitBackward(const Napi::CallbackInfo& info) {
  const Params p(info, "bitfitBackward");
  const int64_t t = p.dim("T"), k = p.dim("K"), n = p.dim("N");
  const float* dy = p.floats("dy", p.checked_mul(t, n));
  const float* w = p.floats("w", p.checked_mul(n, k));
  float* dx = p.opt_floats("dx", p.checked_mul(t, k));
  float* dbias = p.floats("dbias", n);
  bitfit_backward(dy, w, t, k, n, dx, dbias);
  return info.Env().Undefined();
}

}  // namespace

void register_bitfit(Napi::Env env, Napi::Object exports) {
  set_functions(env, exports, {{"bitfitBackward", BitfitBackward}});
}

}  // namespace peftjs
