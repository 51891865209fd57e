// The optimizer updates (AdamW, SGD; also for CUDA, prefixed cuda, on device views) and the sum of squares
// for gradient clipping as N-API functions. Each takes one params object, the TypeScript kernel's own
// (lib/ops/optim/kernel.ts) with buffers as Float32Arrays (CPU) or [handle, offset] views (CUDA). Hyperparameters are checked here as torch.optim's constructors check them, so
// a bad value from any caller is a JS error before any memory is written; lib/ops/optim/kernel.ts
// holds the same checks, with the same messages, for every backend.
#include "../../cuda/device_api.h"
#include "../kernels/optim/optim.h"
#include "args.h"
#include "bindings.h"
#include "buffers.h"

namespace peftjs {
namespace {

// A number as JavaScript's String(v) writes it, so messages read as the TypeScript checks' do.
std::string js_show(const Params& p, double v) {
  return Napi::Number::New(p.env(), v).ToString().Utf8Value();
}

double finite(const Params& p, const char* name) {
  const double v = p.number(name);
  if (!std::isfinite(v)) p.fail_range(std::string(name) + " must be finite, got " + js_show(p, v));
  return v;
}

double non_negative(const Params& p, const char* name) {
  const double v = finite(p, name);
  if (v < 0) p.fail_range(std::string(name) + " must be >= 0, got " + js_show(p, v));
  return v;
}

double unit_interval(const Params& p, const char* name) {
  const double v = finite(p, name);
  if (!(v >= 0.0 && v < 1.0)) p.fail_range(std::string(name) + " must be in [0, 1), got " + js_show(p, v));
  return v;
}

struct CpuOptim : HostBuffers {
  static void adamw(const Params&, const AdamwArgs& a) { adamw_step(a); }
  static void sgd(const Params&, const SgdArgs& a) { sgd_step(a); }
  static double sum_squares(const Params&, const float* x, int64_t n) { return peftjs::sum_squares(x, n); }
};

struct CudaOptim : DeviceBuffers {
  static void adamw(const Params& p, const AdamwArgs& a) { run(p, cuda::adamw_step, a); }
  static void sgd(const Params& p, const SgdArgs& a) { run(p, cuda::sgd_step, a); }
  // The sum goes to a stream-ordered device double that is read back here: this entry returns a number, so
  // it waits for the device (cuda::sum_squares alone does not).
  static double sum_squares(const Params& p, const float* x, int64_t n) {
    std::string e;
    auto* out = static_cast<double*>(cuda::alloc_async(sizeof(double), &e));
    check(p, out != nullptr, e);
    double host = 0.0;
    const bool ok = cuda::sum_squares(x, n, out, &e) && cuda::read_double(out, &host, &e);
    cuda::free_async(out, nullptr);
    check(p, ok, e);
    return host;
  }
};

// adamwStep({n, param, grad, m, v, lr, beta1, beta2, eps, weightDecay, step})
template <class D>
Napi::Value AdamwStep(const Napi::CallbackInfo& info) {
  const Params p(info, "adamwStep");
  AdamwArgs a;
  a.n = p.dim("n");
  a.lr = non_negative(p, "lr");
  a.beta1 = unit_interval(p, "beta1");
  a.beta2 = unit_interval(p, "beta2");
  a.eps = non_negative(p, "eps");
  a.weight_decay = non_negative(p, "weightDecay");
  a.step = p.dim("step");
  if (a.step < 1) p.fail_range("step must be >= 1 (the count after this update), got 0");
  a.param = D::view(p, "param", a.n);
  a.grad = D::view(p, "grad", a.n);
  a.m = D::view(p, "m", a.n);
  a.v = D::view(p, "v", a.n);
  D::adamw(p, a);
  return info.Env().Undefined();
}

// sgdStep({n, param, grad, momentumBuf|null, lr, momentum, dampening, nesterov, weightDecay, firstStep})
template <class D>
Napi::Value SgdStep(const Napi::CallbackInfo& info) {
  const Params p(info, "sgdStep");
  SgdArgs a;
  a.n = p.dim("n");
  a.lr = non_negative(p, "lr");
  a.momentum = non_negative(p, "momentum");
  a.dampening = finite(p, "dampening");
  a.nesterov = p.boolean("nesterov");
  a.weight_decay = non_negative(p, "weightDecay");
  a.first_step = p.boolean("firstStep");
  if (a.nesterov && (a.momentum <= 0 || a.dampening != 0))
    p.fail_range("nesterov momentum requires a momentum > 0 and zero dampening, got momentum " + js_show(p, a.momentum) +
                 ", dampening " + js_show(p, a.dampening));
  a.param = D::view(p, "param", a.n);
  a.grad = D::view(p, "grad", a.n);
  // Without momentum a buffer is allowed but unused (torch keeps none); with it, one is required.
  float* buf = D::opt_view(p, "momentumBuf", a.n);
  if (a.momentum != 0 && buf == nullptr)
    p.fail_type("momentum " + js_show(p, a.momentum) + " needs a momentumBuf of " + std::to_string(a.n) +
                " elements, got null");
  a.momentum_buf = a.momentum != 0 ? buf : nullptr;
  D::sgd(p, a);
  return info.Env().Undefined();
}

// sumSquares({x, n}) -> sum of x[i]^2 in double
template <class D>
Napi::Value SumSquares(const Napi::CallbackInfo& info) {
  const Params p(info, "sumSquares");
  const int64_t n = p.dim("n");
  const float* x = D::view(p, "x", n);
  return Napi::Number::New(info.Env(), D::sum_squares(p, x, n));
}

}  // namespace

void register_optim(Napi::Env env, Napi::Object exports) {
  set_functions(env, exports, {{"adamwStep", AdamwStep<CpuOptim>}, {"sgdStep", SgdStep<CpuOptim>}, {"sumSquares", SumSquares<CpuOptim>},
                               {"cudaAdamwStep", AdamwStep<CudaOptim>}, {"cudaSgdStep", SgdStep<CudaOptim>},
                               {"cudaSumSquares", SumSquares<CudaOptim>}});
}

}  // namespace peftjs
