// The fused softmax cross-entropy (csrc/kernels/cross_entropy, cuda/cross_entropy.cu) as N-API functions, for
// the CPU (Float32Arrays) and, prefixed cuda, for CUDA ([handle, offset] device views; the targets, checked
// here on the host, are uploaded). Each takes one params object, the TypeScript kernel's own
// (lib/ops/cross_entropy/kernel.ts), and checks every size and buffer (and every target) before the kernel runs.
#include "../../cuda/device_api.h"
#include "../kernels/cross_entropy/cross_entropy.h"
#include "args.h"
#include "bindings.h"
#include "buffers.h"

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

struct CpuCrossEntropy : HostBuffers {
  static void forward(const Params&, const float* logits, const int32_t* targets, int64_t rows, int64_t vocab,
                      int32_t ignore_index, float* losses, float* lse) {
    cross_entropy_forward(logits, targets, rows, vocab, ignore_index, losses, lse);
  }
  static void backward(const Params&, const float* logits, const int32_t* targets, const float* lse, int64_t rows,
                       int64_t vocab, int32_t ignore_index, float grad_scale, float* dlogits) {
    cross_entropy_backward(logits, targets, lse, rows, vocab, ignore_index, grad_scale, dlogits);
  }
};

struct CudaCrossEntropy : DeviceBuffers {
  static void forward(const Params& p, const float* logits, const int32_t* targets, int64_t rows, int64_t vocab,
                      int32_t ignore_index, float* losses, float* lse) {
    run(p, cuda::cross_entropy_forward, logits, targets, rows, vocab, ignore_index, losses, lse);
  }
  static void backward(const Params& p, const float* logits, const int32_t* targets, const float* lse, int64_t rows,
                       int64_t vocab, int32_t ignore_index, float grad_scale, float* dlogits) {
    run(p, cuda::cross_entropy_backward, logits, targets, lse, rows, vocab, ignore_index, grad_scale, dlogits);
  }
};

// crossEntropyForward({rows, vocab, logits, targets, ignoreIndex, losses, lse}) -> the rows not ignored,
// counted from the host's targets (so the CUDA entry answers without waiting for the device).
template <class D>
Napi::Value CrossEntropyForward(const Napi::CallbackInfo& info) {
  const Params p(info, "crossEntropyForward");
  const int64_t rows = p.dim("rows"), vocab = p.dim("vocab");
  const int32_t ignore_index = p.int32("ignoreIndex");
  const float* logits = D::view(p, "logits", p.checked_mul(rows, vocab));
  const int32_t* targets = checked_targets(p, rows, vocab, ignore_index);
  float* losses = D::view(p, "losses", rows);
  float* lse = D::view(p, "lse", rows);
  const typename D::Ints staged(p, targets, rows);
  D::forward(p, logits, staged.get(), rows, vocab, ignore_index, losses, lse);
  int64_t counted = 0;
  for (int64_t r = 0; r < rows; ++r) counted += targets[r] != ignore_index;
  return Napi::Number::New(info.Env(), static_cast<double>(counted));
}

// crossEntropyBackward({rows, vocab, logits, targets, ignoreIndex, lse, gradScale, dlogits})
template <class D>
Napi::Value CrossEntropyBackward(const Napi::CallbackInfo& info) {
  const Params p(info, "crossEntropyBackward");
  const int64_t rows = p.dim("rows"), vocab = p.dim("vocab");
  const int32_t ignore_index = p.int32("ignoreIndex");
  const float grad_scale = p.f32_value("gradScale");
  const int64_t n = p.checked_mul(rows, vocab);
  const float* logits = D::view(p, "logits", n);
  const int32_t* targets = checked_targets(p, rows, vocab, ignore_index);
  const float* lse = D::view(p, "lse", rows);
  float* dlogits = D::view(p, "dlogits", n);
  const typename D::Ints staged(p, targets, rows);
  D::backward(p, logits, staged.get(), lse, rows, vocab, ignore_index, grad_scale, dlogits);
  return info.Env().Undefined();
}

}  // namespace

void register_cross_entropy(Napi::Env env, Napi::Object exports) {
  set_functions(env, exports, {
      {"crossEntropyForward", CrossEntropyForward<CpuCrossEntropy>},
      {"crossEntropyBackward", CrossEntropyBackward<CpuCrossEntropy>},
      {"cudaCrossEntropyForward", CrossEntropyForward<CudaCrossEntropy>},
      {"cudaCrossEntropyBackward", CrossEntropyBackward<CudaCrossEntropy>},
  });
}

}  // namespace peftjs
