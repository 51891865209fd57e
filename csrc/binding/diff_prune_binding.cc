// The hard-concrete diff-pruning kernels and the top-k projection (csrc/kernels/diff_prune) as N-API functions.
// Each takes one params object, the TypeScript kernel's own (lib/ops/diff_prune/kernel.ts) with buffers as
// Float32Arrays, and checks every size and buffer before the kernel runs: the kernels trust their arguments.
#include "../kernels/diff_prune/diff_prune.h"
#include "args.h"
#include "bindings.h"

namespace peftjs {
namespace {

// What both diff-pruning directions share: n, the gate's log-alpha (1 or n of them), training, seed, gate.
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
  a.delta = p.floats("delta", a.n);
  a.log_alpha = p.floats("logAlpha", la_len);
  return a;
}

// diffPruneForward({n, w, delta, logAlpha, logAlphaLength, training, seed, gate, wOut, z|null}) -> penalty
Napi::Value DiffPruneForward(const Napi::CallbackInfo& info) {
  const Params p(info, "diffPruneForward");
  const DiffPruneArgs a = diff_prune_args(p);
  const float* w = p.floats("w", a.n);
  float* w_out = p.floats("wOut", a.n);
  float* z = p.opt_floats("z", a.n);
  return Napi::Number::New(info.Env(), diff_prune_forward(a, w, w_out, z));
}

// diffPruneBackward({n, dw, delta, logAlpha, logAlphaLength, training, seed, gate, lambda, dDelta, dLogAlpha,
// gates|null}): gates are the forward's z for the same arguments (then nothing is regenerated)
Napi::Value DiffPruneBackward(const Napi::CallbackInfo& info) {
  const Params p(info, "diffPruneBackward");
  const DiffPruneArgs a = diff_prune_args(p);
  const float lambda = p.f32("lambda");
  const float* dw = p.floats("dw", a.n);
  float* d_delta = p.floats("dDelta", a.n);
  float* d_la = p.floats("dLogAlpha", a.structured ? 1 : a.n);
  const float* gates = p.opt_floats("gates", a.n);
  diff_prune_backward(a, dw, lambda, gates, d_delta, d_la);
  return info.Env().Undefined();
}

// projectTopK({v, n, keep}) -> threshold magnitude
Napi::Value ProjectTopK(const Napi::CallbackInfo& info) {
  const Params p(info, "projectTopK");
  const int64_t n = p.dim("n");
  const int64_t keep = p.dim("keep");
  float* v = p.floats("v", n);
  return Napi::Number::New(info.Env(), project_top_k(v, n, keep));
}

}  // namespace

void register_diff_prune(Napi::Env env, Napi::Object exports) {
  set_functions(env, exports, {
      {"diffPruneForward", DiffPruneForward},
      {"diffPruneBackward", DiffPruneBackward},
      {"projectTopK", ProjectTopK},
  });
}

}  // namespace peftjs
