// The optimizer updates (AdamW, SGD) and the sum of squares for gradient clipping as N-API functions.
// Hyperparameters are checked here as torch.optim's constructors check them, so a bad value from any
// caller is a JS error before any memory is written.
#include "../kernels/optim.h"
#include "args.h"
#include "bindings.h"

namespace peftjs {
namespace {

double finite(const Args& args, size_t i, const char* name) {
  const double v = args.number(i, name);
  if (!std::isfinite(v)) args.fail_range(std::string(name) + " must be finite, got " + Args::show(v));
  return v;
}

double non_negative(const Args& args, size_t i, const char* name) {
  const double v = finite(args, i, name);
  if (v < 0) args.fail_range(std::string(name) + " must be >= 0, got " + Args::show(v));
  return v;
}

double unit_interval(const Args& args, size_t i, const char* name) {
  const double v = finite(args, i, name);
  if (!(v >= 0.0 && v < 1.0)) args.fail_range(std::string(name) + " must be in [0, 1), got " + Args::show(v));
  return v;
}

// adamwStep(n, param, grad, m, v, lr, beta1, beta2, eps, weightDecay, step)
Napi::Value AdamwStep(const Napi::CallbackInfo& info) {
  Args args(info, "adamwStep", 11);
  AdamwArgs a;
  a.n = args.dim(0, "n");
  a.lr = non_negative(args, 5, "lr");
  a.beta1 = unit_interval(args, 6, "beta1");
  a.beta2 = unit_interval(args, 7, "beta2");
  a.eps = non_negative(args, 8, "eps");
  a.weight_decay = non_negative(args, 9, "weightDecay");
  a.step = args.dim(10, "step");
  if (a.step < 1) args.fail_range("step must be >= 1 (the count after this update), got 0");
  a.param = args.floats(1, "param", a.n).data;
  a.grad = args.floats(2, "grad", a.n).data;
  a.m = args.floats(3, "m", a.n).data;
  a.v = args.floats(4, "v", a.n).data;
  adamw_step(a);
  return info.Env().Undefined();
}

// sgdStep(n, param, grad, momentumBuf|null, lr, momentum, dampening, nesterov, weightDecay, firstStep)
Napi::Value SgdStep(const Napi::CallbackInfo& info) {
  Args args(info, "sgdStep", 10);
  SgdArgs a;
  a.n = args.dim(0, "n");
  a.lr = non_negative(args, 4, "lr");
  a.momentum = non_negative(args, 5, "momentum");
  a.dampening = finite(args, 6, "dampening");
  a.nesterov = args.boolean(7, "nesterov");
  a.weight_decay = non_negative(args, 8, "weightDecay");
  a.first_step = args.boolean(9, "firstStep");
  if (a.nesterov && (a.momentum <= 0 || a.dampening != 0))
    args.fail_range("nesterov momentum requires a momentum > 0 and zero dampening, got momentum " + Args::show(a.momentum) +
                    ", dampening " + Args::show(a.dampening));
  a.param = args.floats(1, "param", a.n).data;
  a.grad = args.floats(2, "grad", a.n).data;
  // Without momentum a buffer is allowed but unused (torch keeps none); with it, one is required.
  float* buf = args.is_null(3) ? nullptr : args.floats(3, "momentumBuf", a.n).data;
  if (a.momentum != 0 && buf == nullptr)
    args.fail_type("momentum " + Args::show(a.momentum) + " needs a momentumBuf of " + std::to_string(a.n) + " elements, got null");
  a.momentum_buf = a.momentum != 0 ? buf : nullptr;
  sgd_step(a);
  return info.Env().Undefined();
}

// sumSquares(x, n) -> sum of x[i]^2 in double
Napi::Value SumSquares(const Napi::CallbackInfo& info) {
  Args args(info, "sumSquares", 2);
  const int64_t n = args.dim(1, "n");
  const float* x = args.floats(0, "x", n).data;
  return Napi::Number::New(info.Env(), sum_squares(x, n));
}

}  // namespace

void register_optim(Napi::Env env, Napi::Object exports) {
  exports.Set("adamwStep", Napi::Function::New(env, AdamwStep, "adamwStep"));
  exports.Set("sgdStep", Napi::Function::New(env, SgdStep, "sgdStep"));
  exports.Set("sumSquares", Napi::Function::New(env, SumSquares, "sumSquares"));
}

}  // namespace peftjs
