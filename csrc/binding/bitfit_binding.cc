// The BitFit backward (csrc/kernels/bitfit, cuda/bitfit.cu) as N-API functions, for the CPU and, prefixed
// cuda, for CUDA. Each takes one params object, the TypeScript kernel's own (lib/ops/bitfit/kernel.ts) with
// buffers as Float32Arrays or [handle, offset] device views, and checks every size and buffer before the
// kernel runs: the kernels trust their arguments.
#include "../../cuda/device_api.h"
#include "../kernels/bitfit/bitfit.h"
#include "args.h"
#include "bindings.h"
#include "buffers.h"

namespace peftjs {
namespace {

struct CpuBitfit : HostBuffers {
  static void backward(const Params&, const float* dy, const float* w, int64_t t, int64_t k, int64_t n, float* dx, float* db) {
    bitfit_backward(dy, w, t, k, n, dx, db);
  }
};

struct CudaBitfit : DeviceBuffers {
  static void backward(const Params& p, const float* dy, const float* w, int64_t t, int64_t k, int64_t n, float* dx, float* db) {
    run(p, cuda::bitfit_backward, dy, w, t, k, n, dx, db);
  }
};

// bitfitBackward({T, K, N, dy, w, dx|null, dbias})
template <class D>
Napi::Value BitfitBackward(const Napi::CallbackInfo& info) {
  const Params p(info, "bitfitBackward");
  const int64_t t = p.dim("T"), k = p.dim("K"), n = p.dim("N");
  const float* dy = D::view(p, "dy", p.checked_mul(t, n));
  const float* w = D::view(p, "w", p.checked_mul(n, k));
  float* dx = D::opt_view(p, "dx", p.checked_mul(t, k));
  float* dbias = D::view(p, "dbias", n);
  D::backward(p, dy, w, t, k, n, dx, dbias);
  return info.Env().Undefined();
}

}  // namespace

void register_bitfit(Napi::Env env, Napi::Object exports) {
  set_functions(env, exports, {{"bitfitBackward", BitfitBackward<CpuBitfit>}, {"cudaBitfitBackward", BitfitBackward<CudaBitfit>}});
}

}  // namespace peftjs
