#include <napi.h>

#include "bindings.h"

namespace peftjs {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  register_info(env, exports);
  register_memory(env, exports);
  register_ops(env, exports);
  register_cuda(env, exports);
  register_peft(env, exports);
  register_model(env, exports);
  register_attention(env, exports);
  register_optim(env, exports);
  return exports;
}

}  // namespace peftjs

static Napi::Object InitPeftjs(Napi::Env env, Napi::Object exports) { return peftjs::Init(env, exports); }

NODE_API_MODULE(peftjs, InitPeftjs)
