// The hard-concrete diff-pruning kernels and the top-k projection (csrc/kernels/diff_prune, cuda/diff_prune.cu)
// as N-API functions, for the CPU and, prefixed cuda, for CUDA. Each takes one params object, the TypeScript
// kernel's own (lib/ops/diff_prune/kernel.ts) with buffers as Float32Arrays or [handle, offset] device views,
// and checks every size and buffer before the kernel runs: the kernels trust their arguments.
#include "../../cuda/device_api.h"
#include "../kernels/diff_prune/diff_prune.h"
#include "args.h"
#include "bindings.h"
#include "buffers.h"

namespace peftjs {
namespace {

struct CpuDiffPrune : HostBuffers {
  static double forward(const Params&, const DiffPruneArgs& a, const float* w, float* w_out, float* z) {
    return diff_prune_forward(a, w, w_out, z);
  }
  static void backward(const Params&, const DiffPruneArgs& a, const float* dw, float lambda, const float* gates,
                       float* d_delta, float* d_la) {
    diff_prune_backward(a, dw, lambda, gates, d_delta, d_la);
  }
  static float top_k(const Params&, float* v, int64_t n, int64_t keep) { return project_top_k(v, n, keep); }
};

struct CudaDiffPrune : DeviceBuffers {
  // The penalty goes to a stream-ordered device double that is read back here: this entry returns a number,
  // so it waits for the device (cuda::diff_prune_forward alone does not).
  static double forward(const Params& p, const DiffPruneArgs& a, const float* w, float* w_out, float* z) {
    std::string e;
    auto* penalty = static_cast<double*>(cuda::alloc_async(sizeof(double), &e));
    check(p, penalty != nullptr, e);
    double host = 0.0;
    const bool ok = cuda::diff_prune_forward(a, w, w_out, z, penalty, &e) && cuda::read_double(penalty, &host, &e);
    cuda::free_async(penalty, nullptr);
    check(p, ok, e);
    return host;
  }
  static void backward(const Params& p, const DiffPruneArgs& a, const float* dw, float lambda, const float* gates,
                       float* d_delta, float* d_la) {
    run(p, cuda::diff_prune_backward, a, dw, lambda, gates, d_delta, d_la);
  }
  // Synchronises: the threshold is returned.
  static float top_k(const Params& p, float* v, int64_t n, int64_t keep) {
    float threshold = 0.0f;
    run(p, cuda::project_top_k, v, n, keep, &threshold);
    return threshold;
  }
};

// What both diff-pruning directions share: n, the gate's log-alpha (1 or n of them), training, seed, gate.
template <class D>
DiffPruneArgs diff_prune_args(const Params& p) {
  DiffPruneArgs a;
  a.n = p.dim("n");
  const int64_t la_len = p.dim("logAlphaLength");
  if (la_len != 1 && la_len != a.n)
    p.fail_range("logAlphaLength must be 1 (structured) or n = " + std::to_string(a.n) + ", got " + std::to_string(la_len));
  a.structured = la_len == 1;
  a.training = p.boolean("training");
  a.seed = static_cast<uint64_t>(p.dim("seed"));
  const Napi::Object gate = p.object("gate");
  a.gate.gamma = static_cast<float>(p.number_of(gate.Get("gamma"), "gate.gamma"));
  a.gate.zeta = static_cast<float>(p.number_of(gate.Get("zeta"), "gate.zeta"));
  a.gate.beta = static_cast<float>(p.number_of(gate.Get("beta"), "gate.beta"));
  if (!(a.gate.gamma < 0.0f && a.gate.zeta > 1.0f && a.gate.beta > 0.0f))
    p.fail_range("gate needs gamma < 0, zeta > 1 and beta > 0, got gamma " + Params::show(a.gate.gamma) + ", zeta " +
                 Params::show(a.gate.zeta) + ", beta " + Params::show(a.gate.beta));
  a.delta = D::view(p, "delta", a.n);
  a.log_alpha = D::view(p, "logAlpha", la_len);
  return a;
}

// diffPruneForward({n, w, delta, logAlpha, logAlphaLength, training, seed, gate, wOut, z|null}) -> penalty
template <class D>
Napi::Value DiffPruneForward(const Napi::CallbackInfo& info) {
  const Params p(info, "diffPruneForward");
  const DiffPruneArgs a = diff_prune_args<D>(p);
  const float* w = D::view(p, "w", a.n);
  float* w_out = D::view(p, "wOut", a.n);
  float* z = D::opt_view(p, "z", a.n);
  return Napi::Number::New(info.Env(), D::forward(p, a, w, w_out, z));
}

// diffPruneBackward({n, dw, delta, logAlpha, logAlphaLength, training, seed, gate, lambda, dDelta, dLogAlpha,
// gates|null}): gates are the forward's z for the same arguments (then nothing is regenerated)
template <class D>
Napi::Value DiffPruneBackward(const Napi::CallbackInfo& info) {
  const Params p(info, "diffPruneBackward");
  const DiffPruneArgs a = diff_prune_args<D>(p);
  const float lambda = p.f32("lambda");
  const float* dw = D::view(p, "dw", a.n);
  float* d_delta = D::view(p, "dDelta", a.n);
  float* d_la = D::view(p, "dLogAlpha", a.structured ? 1 : a.n);
  const float* gates = D::opt_view(p, "gates", a.n);
  D::backward(p, a, dw, lambda, gates, d_delta, d_la);
  return info.Env().Undefined();
}

// projectTopK({v, n, keep}) -> threshold magnitude
template <class D>
Napi::Value ProjectTopK(const Napi::CallbackInfo& info) {
  const Params p(info, "projectTopK");
  const int64_t n = p.dim("n");
  const int64_t keep = p.dim("keep");
  float* v = D::view(p, "v", n);
  return Napi::Number::New(info.Env(), D::top_k(p, v, n, keep));
}

}  // namespace

void register_diff_prune(Napi::Env env, Napi::Object exports) {
  set_functions(env, exports, {
      {"diffPruneForward", DiffPruneForward<CpuDiffPrune>},
      {"diffPruneBackward", DiffPruneBackward<CpuDiffPrune>},
      {"projectTopK", ProjectTopK<CpuDiffPrune>},
      {"cudaDiffPruneForward", DiffPruneForward<CudaDiffPrune>},
      {"cudaDiffPruneBackward", DiffPruneBackward<CudaDiffPrune>},
      {"cudaProjectTopK", ProjectTopK<CudaDiffPrune>},
  });
}

}  // namespace peftjs
