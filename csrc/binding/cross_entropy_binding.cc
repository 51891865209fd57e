// The fused softmax cross-entropy (csrc/kernels/cross_entropy) as N-API functions. Each takes one params object,
// the TypeScript kernel's own (lib/ops/cross_entropy/kernel.ts) with buffers as Float32Arrays, and checks every
// size and buffer (and every target) before the kernel runs: the kernels trust their arguments.
#include "../kernels/cross_entropy/cross_entropy.h"
#include "args.h"
#include "bindings.h"

namespace peftjs {
namespace {

// Every target in [0, vocab) or equal to ignoreIndex, checked before the kernel runs.
const int32_t* checked_targets(const Params& p, int64_t rows, int64_t vocab, int32_t ignore_index) {
  const int32_t* t = p.int32s("targets", rows);
  for (int64_t r = 0; r < rows; ++r)
    if (t[r] != ignore_index && (t[r] < 0 || t[r] >= vocab))
      p.fail_range("row " + std::to_string(r) + " has target " + std::to_string(t[r]) + ", outside [0, " +
                   std::to_string(vocab) + ") (vocab " + std::to_string(vocab) + ") and not ignoreIndex " +
                   std::to_string(ignore_index));
  return t;
}

// crossEntropyForward({rows, vocab, logits, targets, ignoreIndex, losses, lse}) -> counted rows
Napi::Value CrossEntropyForward(const Napi::CallbackInfo& info) {
  const Params p(info, "crossEntropyForward");
  const int64_t rows = p.dim("rows"), vocab = p.dim("vocab");
  const int32_t ignore_index = p.int32("ignoreIndex");
  const float* logits = p.floats("logits", p.checked_mul(rows, vocab));
  const int32_t* targets = checked_targets(p, rows, vocab, ignore_index);
  float* losses = p.floats("losses", rows);
  float* lse = p.floats("lse", rows);
  const int64_t counted = cross_entropy_forward(logits, targets, rows, vocab, ignore_index, losses, lse);
  return Napi::Number::New(info.Env(), static_cast<double>(counted));
}

// crossEntropyBackward({rows, vocab, logits, targets, ignoreIndex, lse, gradScale, dlogits})
Napi::Value CrossEntropyBackward(const Napi::CallbackInfo& info) {
  const Params p(info, "crossEntropyBackward");
  const int64_t rows = p.dim("rows"), vocab = p.dim("vocab");
  const int32_t ignore_index = p.int32("ignoreIndex");
  const float grad_scale = p.f32_value("gradScale");
  const int64_t n = p.checked_mul(rows, vocab);
  const float* logits = p.floats("logits", n);
  const int32_t* targets = checked_targets(p, rows, vocab, ignore_index);
  const float* lse = p.floats("lse", rows);
  float* dlogits = p.floats("dlogits", n);
  cross_entropy_backward(logits, targets, lse, rows, vocab, ignore_index, grad_scale, dlogits);
  return info.Env().Undefined();
}

}  // namespace

void register_cross_entropy(Napi::Env env, Napi::Object exports) {
  set_functions(env, exports, {
      {"crossEntropyForward", CrossEntropyForward},
      {"crossEntropyBackward", CrossEntropyBackward},
  });
}

}  // namespace peftjs
