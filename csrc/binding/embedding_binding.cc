// The embedding lookup and its gradient (csrc/kernels/embedding) as N-API functions. Each takes one params
// object, the TypeScript kernel's own (lib/ops/embedding/kernel.ts) with buffers as Float32Arrays, and checks
// every size and buffer (and every id) before the kernel runs: the kernels trust their arguments.
#include "../kernels/embedding/embedding.h"
#include "args.h"
#include "bindings.h"

namespace peftjs {
namespace {

// Every id in [0, vocab), checked before any row is read or written.
const int32_t* checked_ids(const Params& p, int64_t n, int64_t vocab) {
  const int32_t* ids = p.int32s("ids", n);
  for (int64_t k = 0; k < n; ++k)
    if (ids[k] < 0 || ids[k] >= vocab)
      p.fail_range("ids[" + std::to_string(k) + "] = " + std::to_string(ids[k]) + " is out of range [0, " +
                   std::to_string(vocab) + ") (vocab " + std::to_string(vocab) + ")");
  return ids;
}

// embeddingForward({n, dim, vocab, ids, table, out})
Napi::Value EmbeddingForward(const Napi::CallbackInfo& info) {
  const Params p(info, "embeddingForward");
  const int64_t n = p.dim("n"), dim = p.dim("dim"), vocab = p.dim("vocab");
  const int32_t* ids = checked_ids(p, n, vocab);
  const float* table = p.floats("table", p.checked_mul(vocab, dim));
  float* out = p.floats("out", p.checked_mul(n, dim));
  embedding_forward(ids, n, dim, table, out);
  return info.Env().Undefined();
}

// embeddingBackward({n, dim, vocab, ids, dy, dtable})
Napi::Value EmbeddingBackward(const Napi::CallbackInfo& info) {
  const Params p(info, "embeddingBackward");
  const int64_t n = p.dim("n"), dim = p.dim("dim"), vocab = p.dim("vocab");
  const int32_t* ids = checked_ids(p, n, vocab);
  const float* dy = p.floats("dy", p.checked_mul(n, dim));
  float* dtable = p.floats("dtable", p.checked_mul(vocab, dim));
  embedding_backward(ids, n, dim, dy, dtable);
  return info.Env().Undefined();
}

}  // namespace

void register_embedding(Napi::Env env, Napi::Object exports) {
  set_functions(env, exports, {{"embeddingForward", EmbeddingForward}, {"embeddingBackward", EmbeddingBackward}});
}

}  // namespace peftjs
