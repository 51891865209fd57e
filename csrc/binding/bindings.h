// Each binding file registers its functions on the module's exports.
#pragma once

#include <napi.h>

namespace peftjs {

void register_info(Napi::Env env, Napi::Object exports);
void register_memory(Napi::Env env, Napi::Object exports);
void register_ops(Napi::Env env, Napi::Object exports);
void register_cuda(Napi::Env env, Napi::Object exports);
void register_peft(Napi::Env env, Napi::Object exports);
void register_model(Napi::Env env, Napi::Object exports);
void register_attention(Napi::Env env, Napi::Object exports);
void register_optim(Napi::Env env, Napi::Object exports);

}  // namespace peftjs
