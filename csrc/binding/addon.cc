#include <napi.h>

#include "bindings.h"

namespace peftjs {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  register_info(env, exports);
  register_memory(env, exports);
  register_ops(env, exports);
  register_cuda(env, exports);
  register_lora(env, exports);
  register_ia3(env, exports);
  register_diff_prune(env, exports);
  register_bitfit(env, exports);
  register_grad_ops(env, exports);
  register_norm(env, exports);
  register_embedding(env, exports);
  register_rope(env, exports);
  register_cross_entropy(env, exports);
  register_attention(env, exports);
  register_optim(env, exports);
  register_dequantize(env, exports);
  register_gemm_bf16(env, exports);
  register_tfjs(env, exports);
  register_dist(env, exports);
  register_nccl(env, exports);
  return exports;
}

}  // namespace peftjs

static Napi::Object InitPeftjs(Napi::Env env, Napi::Object exports) { return peftjs::Init(env, exports); }

NODE_API_MODULE(peftjs, InitPeftjs)
