// RMSNorm and LayerNorm (csrc/kernels/norm) as N-API functions. Each takes one params object, the TypeScript
// kernel's own (lib/ops/norm/kernel.ts) with buffers as Float32Arrays, and checks every size and buffer before
// the kernel runs: the kernels trust their arguments.
#include "../kernels/norm/norm.h"
#include "args.h"
#include "bindings.h"

namespace peftjs {
namespace {

float non_negative(const Params& p, const char* name) {
  const float v = p.f32(name);
  if (!(v >= 0.0f) || std::isinf(v)) p.fail_range(std::string(name) + " must be finite and >= 0, got " + Params::show(v));
  return v;
}

// What every norm shares: rows, cols >= 1, eps, x [rows, cols], weight [cols] | null.
NormArgs norm_args(const Params& p) {
  NormArgs a;
  a.rows = p.dim("rows");
  a.cols = p.dim("cols");
  if (a.cols == 0) p.fail_range("cols must be at least 1");
  a.eps = non_negative(p, "eps");
  a.x = p.floats("x", p.checked_mul(a.rows, a.cols));
  a.weight = p.opt_floats("weight", a.cols);
  return a;
}

// rmsNormForward({rows, cols, x, weight|null, eps, y, rstd})
Napi::Value RmsNormForward(const Napi::CallbackInfo& info) {
  const Params p(info, "rmsNormForward");
  const NormArgs a = norm_args(p);
  float* y = p.floats("y", a.rows * a.cols);
  float* rstd = p.floats("rstd", a.rows);
  rms_norm_forward(a, y, rstd);
  return info.Env().Undefined();
}

// rmsNormBackward({rows, cols, x, weight|null, eps, rstd, dy, dx, dweight|null})
Napi::Value RmsNormBackward(const Napi::CallbackInfo& info) {
  const Params p(info, "rmsNormBackward");
  const NormArgs a = norm_args(p);
  const float* rstd = p.floats("rstd", a.rows);
  const float* dy = p.floats("dy", a.rows * a.cols);
  float* dx = p.floats("dx", a.rows * a.cols);
  float* dweight = p.opt_floats("dweight", a.cols);
  rms_norm_backward(a, rstd, dy, dx, dweight);
  return info.Env().Undefined();
}

// layerNormForward({rows, cols, x, weight|null, bias|null, eps, y, mean, rstd})
Napi::Value LayerNormForward(const Napi::CallbackInfo& info) {
  const Params p(info, "layerNormForward");
  const NormArgs a = norm_args(p);
  const float* bias = p.opt_floats("bias", a.cols);
  float* y = p.floats("y", a.rows * a.cols);
  float* mean = p.floats("mean", a.rows);
  float* rstd = p.floats("rstd", a.rows);
  layer_norm_forward(a, bias, y, mean, rstd);
  return info.Env().Undefined();
}

// layerNormBackward({rows, cols, x, weight|null, eps, mean, rstd, dy, dx, dweight|null, dbias|null})
Napi::Value LayerNormBackward(const Napi::CallbackInfo& info) {
  const Params p(info, "layerNormBackward");
  const NormArgs a = norm_args(p);
  const float* mean = p.floats("mean", a.rows);
  const float* rstd = p.floats("rstd", a.rows);
  const float* dy = p.floats("dy", a.rows * a.cols);
  float* dx = p.floats("dx", a.rows * a.cols);
  float* dweight = p.opt_floats("dweight", a.cols);
  float* dbias = p.opt_floats("dbias", a.cols);
  layer_norm_backward(a, mean, rstd, dy, dx, dweight, dbias);
  return info.Env().Undefined();
}

}  // namespace

void register_norm(Napi::Env env, Napi::Object exports) {
  set_functions(env, exports, {
      {"rmsNormForward", RmsNormForward},
      {"rmsNormBackward", RmsNormBackward},
      {"layerNormForward", LayerNormForward},
      {"layerNormBackward", LayerNormBackward},
  });
}

}  // namespace peftjs
