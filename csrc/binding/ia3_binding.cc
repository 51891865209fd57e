// The (IA)3 scaling kernels (csrc/kernels/ia3, cuda/ia3.cu) as N-API functions, for the CPU and, prefixed cuda,
// for CUDA. Each takes one params object, the TypeScript kernel's own (lib/ops/ia3/kernel.ts) with buffers as
// Float32Arrays or [handle, offset] device views, and checks every size and buffer before the kernel runs:
// the kernels trust their arguments.
#include "../../cuda/device_api.h"
#include "../kernels/ia3/ia3.h"
#include "args.h"
#include "bindings.h"
#include "buffers.h"

namespace peftjs {
namespace {

struct CpuIa3 : HostBuffers {
  static void forward(const Params&, const Ia3Args& a, float* y, float* y_pre) { ia3_forward(a, y, y_pre); }
  static void backward(const Params&, const Ia3Args& a, const float* dy, const float* y_pre, float* dx, float* dl) {
    ia3_backward(a, dy, y_pre, dx, dl);
  }
};

struct CudaIa3 : DeviceBuffers {
  static void forward(const Params& p, const Ia3Args& a, float* y, float* y_pre) { run(p, cuda::ia3_forward, a, y, y_pre); }
  static void backward(const Params& p, const Ia3Args& a, const float* dy, const float* y_pre, float* dx, float* dl) {
    run(p, cuda::ia3_backward, a, dy, y_pre, dx, dl);
  }
};

template <class D>
Ia3Args ia3_args(const Params& p) {
  Ia3Args a;
  const std::string mode = p.string("mode");
  if (mode == "output") a.mode = Ia3Mode::Output;
  else if (mode == "input") a.mode = Ia3Mode::Input;
  else p.fail_range("mode must be 'output' or 'input', got '" + mode + "'");
  a.t = p.dim("T"), a.k = p.dim("K"), a.n = p.dim("N");
  a.x = D::view(p, "x", p.checked_mul(a.t, a.k));
  a.w = D::view(p, "w", p.checked_mul(a.n, a.k));
  a.l = D::view(p, "l", a.mode == Ia3Mode::Output ? a.n : a.k);
  return a;
}

// ia3Forward({mode, T, K, N, x, w, bias|null, l, y, yPre|null})
template <class D>
Napi::Value Ia3Forward(const Napi::CallbackInfo& info) {
  const Params p(info, "ia3Forward");
  Ia3Args a = ia3_args<D>(p);
  a.bias = D::opt_view(p, "bias", a.n);
  float* y = D::view(p, "y", p.checked_mul(a.t, a.n));
  float* y_pre = D::opt_view(p, "yPre", p.checked_mul(a.t, a.n));
  D::forward(p, a, y, y_pre);
  return info.Env().Undefined();
}

// ia3Backward({mode, T, K, N, x, w, l, dy, yPre|null, dx|null, dl})
template <class D>
Napi::Value Ia3Backward(const Napi::CallbackInfo& info) {
  const Params p(info, "ia3Backward");
  const Ia3Args a = ia3_args<D>(p);
  const float* dy = D::view(p, "dy", p.checked_mul(a.t, a.n));
  const float* y_pre = D::opt_view(p, "yPre", p.checked_mul(a.t, a.n));
  if (a.mode == Ia3Mode::Output && y_pre == nullptr) p.fail_range("output scaling needs yPre (the unscaled output) for dl");
  float* dx = D::opt_view(p, "dx", p.checked_mul(a.t, a.k));
  float* dl = D::view(p, "dl", a.mode == Ia3Mode::Output ? a.n : a.k);
  D::backward(p, a, dy, y_pre, dx, dl);
  return info.Env().Undefined();
}

}  // namespace

void register_ia3(Napi::Env env, Napi::Object exports) {
  set_functions(env, exports, {
      {"ia3Forward", Ia3Forward<CpuIa3>},
      {"ia3Backward", Ia3Backward<CpuIa3>},
      {"cudaIa3Forward", Ia3Forward<CudaIa3>},
      {"cudaIa3Backward", Ia3Backward<CudaIa3>},
  });
}

}  // namespace peftjs
