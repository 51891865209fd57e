// The PEFT kernels (LoRA, IA3, diff pruning, BitFit) as N-API functions, CPU only for now. Each takes one
// params object, the TypeScript kernel's own (lib/backend/types.ts) with buffers as Float32Arrays, and
// checks every size and buffer against the shapes before calling into csrc/kernels.
#include "../kernels/bitfit.h"
#include "../kernels/diff_prune.h"
#include "../kernels/ia3.h"
#include "../kernels/lora.h"
#include "args.h"
#include "bindings.h"

namespace peftjs {
namespace {

float unit_interval(const Params& p, const char* name) {
  const float v = p.f32(name);
  if (!(v >= 0.0f && v < 1.0f)) p.fail_range(std::string(name) + " must be in [0, 1), got " + Params::show(v));
  return v;
}

// What both LoRA directions share: sizes, rank >= 1, scale, dropout, its seed and row offset, x, W, A, B.
template <class LoraArgs>
void lora_common(const Params& p, LoraArgs& a) {
  a.t = p.dim("T"), a.k = p.dim("K"), a.n = p.dim("N"), a.r = p.dim("r");
  if (a.r == 0) p.fail_range("rank r must be at least 1");
  a.scale = p.f32("scale");
  a.dropout = unit_interval(p, "dropout");
  a.seed = static_cast<uint64_t>(p.dim("seed"));
  a.row_offset = p.dim("rowOffset");
  a.x = p.floats("x", p.checked_mul(a.t, a.k));
  a.w = p.opt_floats("w", p.checked_mul(a.n, a.k));
  a.a = p.floats("a", p.checked_mul(a.r, a.k));
  a.b = p.floats("b", p.checked_mul(a.n, a.r));
}

// loraForward({T, K, N, r, x, w|null, bias|null, a, b, scale, dropout, seed, rowOffset, u, y})
Napi::Value LoraForward(const Napi::CallbackInfo& info) {
  const Params p(info, "loraForward");
  LoraForwardArgs a;
  lora_common(p, a);
  a.bias = p.opt_floats("bias", a.n);
  if (a.bias != nullptr && a.w == nullptr) p.fail_range("bias is given without w (the bias belongs to the base layer)");
  a.u = p.floats("u", p.checked_mul(a.t, a.r));
  a.y = p.floats("y", p.checked_mul(a.t, a.n));
  lora_forward(a);
  return info.Env().Undefined();
}

// loraBackward({T, K, N, r, x, w|null, a, b, u, dy, scale, dropout, seed, rowOffset, dx|null, da, db, dbias|null})
Napi::Value LoraBackward(const Napi::CallbackInfo& info) {
  const Params p(info, "loraBackward");
  LoraBackwardArgs a;
  lora_common(p, a);
  a.u = p.floats("u", p.checked_mul(a.t, a.r));
  a.dy = p.floats("dy", p.checked_mul(a.t, a.n));
  a.dx = p.opt_floats("dx", p.checked_mul(a.t, a.k));
  a.da = p.floats("da", p.checked_mul(a.r, a.k));
  a.db = p.floats("db", p.checked_mul(a.n, a.r));
  a.dbias = p.opt_floats("dbias", a.n);
  lora_backward(a);
  return info.Env().Undefined();
}

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

void register_peft(Napi::Env env, Napi::Object exports) {
  exports.Set("loraForward", Napi::Function::New(env, LoraForward, "loraForward"));
  exports.Set("loraBackward", Napi::Function::New(env, LoraBackward, "loraBackward"));
  exports.Set("ia3Forward", Napi::Function::New(env, Ia3Forward, "ia3Forward"));
  exports.Set("ia3Backward", Napi::Function::New(env, Ia3Backward, "ia3Backward"));
  exports.Set("diffPruneForward", Napi::Function::New(env, DiffPruneForward, "diffPruneForward"));
  exports.Set("diffPruneBackward", Napi::Function::New(env, DiffPruneBackward, "diffPruneBackward"));
  exports.Set("projectTopK", Napi::Function::New(env, ProjectTopK, "projectTopK"));
  exports.Set("bitfitBackward", Napi::Function::New(env, BitfitBackward, "bitfitBackward"));
}

}  // namespace peftjs
