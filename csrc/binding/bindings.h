// Each binding file registers its functions on the module's exports.
#pragma once

#include <napi.h>

#include <initializer_list>
#include <utility>

namespace peftjs {

// Sets each (name, function) pair on the module's exports, each function named as its export.
inline void set_functions(Napi::Env env, Napi::Object exports,
                          std::initializer_list<std::pair<const char*, Napi::Function::Callback>> functions) {
  for (const auto& [name, fn] : functions) exports.Set(name, Napi::Function::New(env, fn, name));
}

void register_info(Napi::Env env, Napi::Object exports);
void register_memory(Napi::Env env, Napi::Object exports);
void register_ops(Napi::Env env, Napi::Object exports);
void register_cuda(Napi::Env env, Napi::Object exports);
void register_lora(Napi::Env env, Napi::Object exports);
void register_ia3(Napi::Env env, Napi::Object exports);
void register_diff_prune(Napi::Env env, Napi::Object exports);
void register_bitfit(Napi::Env env, Napi::Object exports);
void register_grad_ops(Napi::Env env, Napi::Object exports);
void register_norm(Napi::Env env, Napi::Object exports);
void register_embedding(Napi::Env env, Napi::Object exports);
void register_rope(Napi::Env env, Napi::Object exports);
void register_cross_entropy(Napi::Env env, Napi::Object exports);
void register_attention(Napi::Env env, Napi::Object exports);
void register_optim(Napi::Env env, Napi::Object exports);
void register_dequantize(Napi::Env env, Napi::Object exports);
void register_gemm_bf16(Napi::Env env, Napi::Object exports);
void register_tfjs(Napi::Env env, Napi::Object exports);
void register_dist(Napi::Env env, Napi::Object exports);
void register_nccl(Napi::Env env, Napi::Object exports);

}  // namespace peftjs
