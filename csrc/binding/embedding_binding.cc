// The embedding lookup and its gradient (csrc/kernels/embedding, cuda/embedding.cu) as N-API functions, each
// for the CPU (Float32Arrays) and, prefixed cuda, for CUDA ([handle, offset] device views; the ids, checked
// here on the host, are uploaded). Each takes one params object, the TypeScript kernel's own
// (lib/ops/embedding/kernel.ts), and checks every size and buffer (and every id) before the kernel runs.
#include "../../cuda/device_api.h"
#include "../kernels/embedding/embedding.h"
#include "args.h"
#include "bindings.h"
#include "buffers.h"

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

struct CpuEmbedding : HostBuffers {
  static void forward(const Params&, const int32_t* ids, int64_t n, int64_t dim, const float* table, float* out) {
    embedding_forward(ids, n, dim, table, out);
  }
  static void backward(const Params&, const int32_t* ids, int64_t n, int64_t dim, const float* dy, float* dtable) {
    embedding_backward(ids, n, dim, dy, dtable);
  }
};

struct CudaEmbedding : DeviceBuffers {
  static void forward(const Params& p, const int32_t* ids, int64_t n, int64_t dim, const float* table, float* out) {
    run(p, cuda::embedding_forward, ids, n, dim, table, out);
  }
  static void backward(const Params& p, const int32_t* ids, int64_t n, int64_t dim, const float* dy, float* dtable) {
    run(p, cuda::embedding_backward, ids, n, dim, dy, dtable);
  }
};

// embeddingForward({n, dim, vocab, ids, table, out})
template <class D>
Napi::Value EmbeddingForward(const Napi::CallbackInfo& info) {
  const Params p(info, "embeddingForward");
  const int64_t n = p.dim("n"), dim = p.dim("dim"), vocab = p.dim("vocab");
  const int32_t* ids = checked_ids(p, n, vocab);
  const float* table = D::view(p, "table", p.checked_mul(vocab, dim));
  float* out = D::view(p, "out", p.checked_mul(n, dim));
  const typename D::Ints staged(p, ids, n);
  D::forward(p, staged.get(), n, dim, table, out);
  return info.Env().Undefined();
}

// embeddingBackward({n, dim, vocab, ids, dy, dtable})
template <class D>
Napi::Value EmbeddingBackward(const Napi::CallbackInfo& info) {
  const Params p(info, "embeddingBackward");
  const int64_t n = p.dim("n"), dim = p.dim("dim"), vocab = p.dim("vocab");
  const int32_t* ids = checked_ids(p, n, vocab);
  const float* dy = D::view(p, "dy", p.checked_mul(n, dim));
  float* dtable = D::view(p, "dtable", p.checked_mul(vocab, dim));
  const typename D::Ints staged(p, ids, n);
  D::backward(p, staged.get(), n, dim, dy, dtable);
  return info.Env().Undefined();
}

}  // namespace

void register_embedding(Napi::Env env, Napi::Object exports) {
  set_functions(env, exports, {
      {"embeddingForward", EmbeddingForward<CpuEmbedding>},
      {"embeddingBackward", EmbeddingBackward<CpuEmbedding>},
      {"cudaEmbeddingForward", EmbeddingForward<CudaEmbedding>},
      {"cudaEmbeddingBackward", EmbeddingBackward<CudaEmbedding>},
  });
}

}  // namespace peftjs
