// RMSNorm and LayerNorm (csrc/kernels/norm, cuda/norm.cu) as N-API functions, each for the CPU (Float32Arrays)
// and, prefixed cuda, for CUDA ([handle, offset] device views). Each takes one params object, the TypeScript
// kernel's own (lib/ops/norm/kernel.ts), and checks every size and buffer before the kernel runs: the kernels
// trust their arguments.
#include "../../cuda/device_api.h"
#include "../kernels/norm/norm.h"
#include "args.h"
#include "bindings.h"
#include "buffers.h"

namespace peftjs {
namespace {

float non_negative(const Params& p, const char* name) {
  const float v = p.f32(name);
  if (!(v >= 0.0f) || std::isinf(v)) p.fail_range(std::string(name) + " must be finite and >= 0, got " + Params::show(v));
  return v;
}

struct CpuNorm : HostBuffers {
  static void rms_forward(const Params&, const NormArgs& a, float* y, float* rstd) { rms_norm_forward(a, y, rstd); }
  static void rms_backward(const Params&, const NormArgs& a, const float* rstd, const float* dy, float* dx, float* dw) {
    rms_norm_backward(a, rstd, dy, dx, dw);
  }
  static void layer_forward(const Params&, const NormArgs& a, const float* bias, float* y, float* mean, float* rstd) {
    layer_norm_forward(a, bias, y, mean, rstd);
  }
  static void layer_backward(const Params&, const NormArgs& a, const float* mean, const float* rstd, const float* dy, float* dx,
                             float* dw, float* db) {
    layer_norm_backward(a, mean, rstd, dy, dx, dw, db);
  }
};

struct CudaNorm : DeviceBuffers {
  static void rms_forward(const Params& p, const NormArgs& a, float* y, float* rstd) { run(p, cuda::rms_norm_forward, a, y, rstd); }
  static void rms_backward(const Params& p, const NormArgs& a, const float* rstd, const float* dy, float* dx, float* dw) {
    run(p, cuda::rms_norm_backward, a, rstd, dy, dx, dw);
  }
  static void layer_forward(const Params& p, const NormArgs& a, const float* bias, float* y, float* mean, float* rstd) {
    run(p, cuda::layer_norm_forward, a, bias, y, mean, rstd);
  }
  static void layer_backward(const Params& p, const NormArgs& a, const float* mean, const float* rstd, const float* dy, float* dx,
                             float* dw, float* db) {
    run(p, cuda::layer_norm_backward, a, mean, rstd, dy, dx, dw, db);
  }
};

// What every norm shares: rows, cols >= 1, eps, x [rows, cols], weight [cols] | null.
template <class D>
NormArgs norm_args(const Params& p) {
  NormArgs a;
  a.rows = p.dim("rows");
  a.cols = p.dim("cols");
  if (a.cols == 0) p.fail_range("cols must be at least 1");
  a.eps = non_negative(p, "eps");
  a.x = D::view(p, "x", p.checked_mul(a.rows, a.cols));
  a.weight = D::opt_view(p, "weight", a.cols);
  return a;
}

// rmsNormForward({rows, cols, x, weight|null, eps, y, rstd})
template <class D>
Napi::Value RmsNormForward(const Napi::CallbackInfo& info) {
  const Params p(info, "rmsNormForward");
  const NormArgs a = norm_args<D>(p);
  float* y = D::view(p, "y", a.rows * a.cols);
  float* rstd = D::view(p, "rstd", a.rows);
  D::rms_forward(p, a, y, rstd);
  return info.Env().Undefined();
}

// rmsNormBackward({rows, cols, x, weight|null, eps, rstd, dy, dx, dweight|null})
template <class D>
Napi::Value RmsNormBackward(const Napi::CallbackInfo& info) {
  const Params p(info, "rmsNormBackward");
  const NormArgs a = norm_args<D>(p);
  const float* rstd = D::view(p, "rstd", a.rows);
  const float* dy = D::view(p, "dy", a.rows * a.cols);
  float* dx = D::view(p, "dx", a.rows * a.cols);
  float* dweight = D::opt_view(p, "dweight", a.cols);
  D::rms_backward(p, a, rstd, dy, dx, dweight);
  return info.Env().Undefined();
}

// layerNormForward({rows, cols, x, weight|null, bias|null, eps, y, mean, rstd})
template <class D>
Napi::Value LayerNormForward(const Napi::CallbackInfo& info) {
  const Params p(info, "layerNormForward");
  const NormArgs a = norm_args<D>(p);
  const float* bias = D::opt_view(p, "bias", a.cols);
  float* y = D::view(p, "y", a.rows * a.cols);
  float* mean = D::view(p, "mean", a.rows);
  float* rstd = D::view(p, "rstd", a.rows);
  D::layer_forward(p, a, bias, y, mean, rstd);
  return info.Env().Undefined();
}

// layerNormBackward({rows, cols, x, weight|null, eps, mean, rstd, dy, dx, dweight|null, dbias|null})
template <class D>
Napi::Value LayerNormBackward(const Napi::CallbackInfo& info) {
  const Params p(info, "layerNormBackward");
  const NormArgs a = norm_args<D>(p);
  const float* mean = D::view(p, "mean", a.rows);
  const float* rstd = D::view(p, "rstd", a.rows);
  const float* dy = D::view(p, "dy", a.rows * a.cols);
  float* dx = D::view(p, "dx", a.rows * a.cols);
  float* dweight = D::opt_view(p, "dweight", a.cols);
  float* dbias = D::opt_view(p, "dbias", a.cols);
  D::layer_backward(p, a, mean, rstd, dy, dx, dweight, dbias);
  return info.Env().Undefined();
}

}  // namespace

void register_norm(Napi::Env env, Napi::Object exports) {
  set_functions(env, exports, {
      {"rmsNormForward", RmsNormForward<CpuNorm>},
      {"rmsNormBackward", RmsNormBackward<CpuNorm>},
      {"layerNormForward", LayerNormForward<CpuNorm>},
      {"layerNormBackward", LayerNormBackward<CpuNorm>},
      {"cudaRmsNormForward", RmsNormForward<CudaNorm>},
      {"cudaRmsNormBackward", RmsNormBackward<CudaNorm>},
      {"cudaLayerNormForward", LayerNormForward<CudaNorm>},
      {"cudaLayerNormBackward", LayerNormBackward<CudaNorm>},
  });
}

}  // namespace peftjs
