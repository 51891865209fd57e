// The PEFT kernels (LoRA, IA3, diff pruning, BitFit) as N-API functions, CPU only for now. Each checks
// every size and buffer against the shapes before calling into csrc/kernels.
#include "../kernels/bitfit.h"
#include "../kernels/diff_prune.h"
#include "../kernels/ia3.h"
#include "../kernels/lora.h"
#include "args.h"
#include "bindings.h"

namespace peftjs {
namespace {

float* opt_floats(const Args& args, size_t i, const char* name, int64_t needed) {
  return args.is_null(i) ? nullptr : args.floats(i, name, needed).data;
}

float unit_interval(const Args& args, size_t i, const char* name) {
  const float p = args.f32(i, name);
  if (!(p >= 0.0f && p < 1.0f)) args.fail_range(std::string(name) + " must be in [0, 1), got " + Args::show(p));
  return p;
}

// loraForward(t, k, n, r, x, w|null, bias|null, a, b, scale, dropout, seed, rowOffset, u, y)
Napi::Value LoraForward(const Napi::CallbackInfo& info) {
  Args args(info, "loraForward", 15);
  LoraForwardArgs p;
  p.t = args.dim(0, "T"), p.k = args.dim(1, "K"), p.n = args.dim(2, "N"), p.r = args.dim(3, "r");
  if (p.r == 0) args.fail_range("rank r must be at least 1");
  p.scale = args.f32(9, "scale");
  p.dropout = unit_interval(args, 10, "dropout");
  p.seed = static_cast<uint64_t>(args.dim(11, "seed"));
  p.row_offset = args.dim(12, "rowOffset");
  p.x = args.floats(4, "x", args.checked_mul(p.t, p.k)).data;
  p.w = opt_floats(args, 5, "w", args.checked_mul(p.n, p.k));
  p.bias = opt_floats(args, 6, "bias", p.n);
  if (p.bias != nullptr && p.w == nullptr) args.fail_range("bias is given without w (the bias belongs to the base layer)");
  p.a = args.floats(7, "a", args.checked_mul(p.r, p.k)).data;
  p.b = args.floats(8, "b", args.checked_mul(p.n, p.r)).data;
  p.u = args.floats(13, "u", args.checked_mul(p.t, p.r)).data;
  p.y = args.floats(14, "y", args.checked_mul(p.t, p.n)).data;
  lora_forward(p);
  return info.Env().Undefined();
}

// loraBackward(t, k, n, r, x, w|null, a, b, u, dy, scale, dropout, seed, rowOffset, dx|null, da, db, dbias|null)
Napi::Value LoraBackward(const Napi::CallbackInfo& info) {
  Args args(info, "loraBackward", 18);
  LoraBackwardArgs p;
  p.t = args.dim(0, "T"), p.k = args.dim(1, "K"), p.n = args.dim(2, "N"), p.r = args.dim(3, "r");
  if (p.r == 0) args.fail_range("rank r must be at least 1");
  p.scale = args.f32(10, "scale");
  p.dropout = unit_interval(args, 11, "dropout");
  p.seed = static_cast<uint64_t>(args.dim(12, "seed"));
  p.row_offset = args.dim(13, "rowOffset");
  p.x = args.floats(4, "x", args.checked_mul(p.t, p.k)).data;
  p.w = opt_floats(args, 5, "w", args.checked_mul(p.n, p.k));
  p.a = args.floats(6, "a", args.checked_mul(p.r, p.k)).data;
  p.b = args.floats(7, "b", args.checked_mul(p.n, p.r)).data;
  p.u = args.floats(8, "u", args.checked_mul(p.t, p.r)).data;
  p.dy = args.floats(9, "dy", args.checked_mul(p.t, p.n)).data;
  p.dx = opt_floats(args, 14, "dx", args.checked_mul(p.t, p.k));
  p.da = args.floats(15, "da", args.checked_mul(p.r, p.k)).data;
  p.db = args.floats(16, "db", args.checked_mul(p.n, p.r)).data;
  p.dbias = opt_floats(args, 17, "dbias", p.n);
  lora_backward(p);
  return info.Env().Undefined();
}

Ia3Mode ia3_mode(const Args& args, size_t i) {
  const std::string m = args.string(i, "mode");
  if (m == "output") return Ia3Mode::Output;
  if (m == "input") return Ia3Mode::Input;
  args.fail_range("mode must be 'output' or 'input', got '" + m + "'");
}

// ia3Forward(mode, t, k, n, x, w, bias|null, l, y, yPre|null)
Napi::Value Ia3Forward(const Napi::CallbackInfo& info) {
  Args args(info, "ia3Forward", 10);
  Ia3Args p;
  p.mode = ia3_mode(args, 0);
  p.t = args.dim(1, "T"), p.k = args.dim(2, "K"), p.n = args.dim(3, "N");
  p.x = args.floats(4, "x", args.checked_mul(p.t, p.k)).data;
  p.w = args.floats(5, "w", args.checked_mul(p.n, p.k)).data;
  p.bias = opt_floats(args, 6, "bias", p.n);
  p.l = args.floats(7, "l", p.mode == Ia3Mode::Output ? p.n : p.k).data;
  float* y = args.floats(8, "y", args.checked_mul(p.t, p.n)).data;
  float* y_pre = opt_floats(args, 9, "yPre", args.checked_mul(p.t, p.n));
  ia3_forward(p, y, y_pre);
  return info.Env().Undefined();
}

// ia3Backward(mode, t, k, n, x, w, l, dy, yPre|null, dx|null, dl)
Napi::Value Ia3Backward(const Napi::CallbackInfo& info) {
  Args args(info, "ia3Backward", 11);
  Ia3Args p;
  p.mode = ia3_mode(args, 0);
  p.t = args.dim(1, "T"), p.k = args.dim(2, "K"), p.n = args.dim(3, "N");
  p.x = args.floats(4, "x", args.checked_mul(p.t, p.k)).data;
  p.w = args.floats(5, "w", args.checked_mul(p.n, p.k)).data;
  const int64_t l_len = p.mode == Ia3Mode::Output ? p.n : p.k;
  p.l = args.floats(6, "l", l_len).data;
  const float* dy = args.floats(7, "dy", args.checked_mul(p.t, p.n)).data;
  const float* y_pre = opt_floats(args, 8, "yPre", args.checked_mul(p.t, p.n));
  if (p.mode == Ia3Mode::Output && y_pre == nullptr) args.fail_range("output scaling needs yPre (the unscaled output) for dl");
  float* dx = opt_floats(args, 9, "dx", args.checked_mul(p.t, p.k));
  float* dl = args.floats(10, "dl", l_len).data;
  ia3_backward(p, dy, y_pre, dx, dl);
  return info.Env().Undefined();
}

DiffPruneArgs diff_prune_args(const Args& args, int64_t n, size_t first) {
  DiffPruneArgs p;
  p.n = n;
  p.training = args.boolean(first, "training");
  p.seed = static_cast<uint64_t>(args.dim(first + 1, "seed"));
  p.gate.gamma = args.f32(first + 2, "gamma");
  p.gate.zeta = args.f32(first + 3, "zeta");
  p.gate.beta = args.f32(first + 4, "beta");
  if (!(p.gate.gamma < 0.0f && p.gate.zeta > 1.0f && p.gate.beta > 0.0f))
    args.fail_range("gate needs gamma < 0, zeta > 1 and beta > 0, got gamma " + Args::show(p.gate.gamma) + ", zeta " +
                    Args::show(p.gate.zeta) + ", beta " + Args::show(p.gate.beta));
  return p;
}

// diffPruneForward(n, w, delta, logAlpha, logAlphaLength, training, seed, gamma, zeta, beta, wOut, z|null) -> penalty
Napi::Value DiffPruneForward(const Napi::CallbackInfo& info) {
  Args args(info, "diffPruneForward", 12);
  const int64_t n = args.dim(0, "n");
  const int64_t la_len = args.dim(4, "logAlphaLength");
  if (la_len != 1 && la_len != n)
    args.fail_range("logAlphaLength must be 1 (structured) or n = " + std::to_string(n) + ", got " + std::to_string(la_len));
  DiffPruneArgs p = diff_prune_args(args, n, 5);
  p.structured = la_len == 1;
  const float* w = args.floats(1, "w", n).data;
  p.delta = args.floats(2, "delta", n).data;
  p.log_alpha = args.floats(3, "logAlpha", la_len).data;
  float* w_out = args.floats(10, "wOut", n).data;
  float* z = opt_floats(args, 11, "z", n);
  return Napi::Number::New(info.Env(), diff_prune_forward(p, w, w_out, z));
}

// diffPruneBackward(n, dw, delta, logAlpha, logAlphaLength, training, seed, gamma, zeta, beta, lambda, dDelta, dLogAlpha,
//                   gates|null): gates are the forward's z for the same arguments (then nothing is regenerated)
Napi::Value DiffPruneBackward(const Napi::CallbackInfo& info) {
  Args args(info, "diffPruneBackward", 14);
  const int64_t n = args.dim(0, "n");
  const int64_t la_len = args.dim(4, "logAlphaLength");
  if (la_len != 1 && la_len != n)
    args.fail_range("logAlphaLength must be 1 (structured) or n = " + std::to_string(n) + ", got " + std::to_string(la_len));
  DiffPruneArgs p = diff_prune_args(args, n, 5);
  p.structured = la_len == 1;
  const float lambda = args.f32(10, "lambda");
  const float* dw = args.floats(1, "dw", n).data;
  p.delta = args.floats(2, "delta", n).data;
  p.log_alpha = args.floats(3, "logAlpha", la_len).data;
  float* d_delta = args.floats(11, "dDelta", n).data;
  float* d_la = args.floats(12, "dLogAlpha", la_len).data;
  const float* gates = opt_floats(args, 13, "gates", n);
  diff_prune_backward(p, dw, lambda, gates, d_delta, d_la);
  return info.Env().Undefined();
}

// projectTopK(v, n, keep) -> threshold magnitude
Napi::Value ProjectTopK(const Napi::CallbackInfo& info) {
  Args args(info, "projectTopK", 3);
  const int64_t n = args.dim(1, "n");
  const int64_t keep = args.dim(2, "keep");
  float* v = args.floats(0, "v", n).data;
  return Napi::Number::New(info.Env(), project_top_k(v, n, keep));
}

// bitfitBackward(t, k, n, dy, w, dx|null, dbias)
Napi::Value BitfitBackward(const Napi::CallbackInfo& info) {
  Args args(info, "bitfitBackward", 7);
  const int64_t t = args.dim(0, "T"), k = args.dim(1, "K"), n = args.dim(2, "N");
  const float* dy = args.floats(3, "dy", args.checked_mul(t, n)).data;
  const float* w = args.floats(4, "w", args.checked_mul(n, k)).data;
  float* dx = opt_floats(args, 5, "dx", args.checked_mul(t, k));
  float* dbias = args.floats(6, "dbias", n).data;
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
