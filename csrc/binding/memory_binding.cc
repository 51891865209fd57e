// Host memory for tensors: 64-byte aligned blocks from the cached allocator, handed to JS as external
// ArrayBuffers (no copy). free() detaches the buffer, so every Float32Array over it becomes empty and a
// later kernel call sees length 0 instead of freed memory; the GC finalizer covers buffers never freed.
#include <mutex>
#include <unordered_map>

#include "../runtime/allocator.h"
#include "args.h"
#include "bindings.h"

namespace peftjs {
namespace {

struct HostBlock {
  void* ptr;
  size_t bytes;
  bool released;
};

std::mutex g_blocks_mutex;
std::unordered_map<void*, HostBlock*> g_blocks;  // live blocks by data pointer

void release(Napi::Env env, HostBlock* block) {
  if (block->released) return;
  block->released = true;
  host_free(block->ptr, block->bytes);
  Napi::MemoryManagement::AdjustExternalMemory(env, -static_cast<int64_t>(block->bytes));
}

Napi::Value Alloc(const Napi::CallbackInfo& info) {
  Args args(info, "alloc", 1);
  const int64_t floats = args.dim(0, "floats");
  const int64_t bytes = args.checked_mul(floats, sizeof(float));
  void* ptr = host_alloc(static_cast<size_t>(bytes));
  if (ptr == nullptr) args.fail_range("out of memory allocating " + std::to_string(bytes) + " bytes");
  auto* block = new HostBlock{ptr, static_cast<size_t>(bytes), false};
  {
    std::lock_guard<std::mutex> lock(g_blocks_mutex);
    g_blocks[ptr] = block;
  }
  Napi::MemoryManagement::AdjustExternalMemory(info.Env(), bytes);
  return Napi::ArrayBuffer::New(
      info.Env(), ptr, static_cast<size_t>(bytes),
      [](Napi::Env env, void* data, HostBlock* b) {
        {
          std::lock_guard<std::mutex> lock(g_blocks_mutex);
          auto it = g_blocks.find(data);
          if (it != g_blocks.end() && it->second == b) g_blocks.erase(it);
        }
        release(env, b);
        delete b;
      },
      block);
}

Napi::Value Free(const Napi::CallbackInfo& info) {
  Args args(info, "free", 1);
  if (!info[0].IsArrayBuffer()) args.fail_type("argument 'buffer' must be an ArrayBuffer, got " + Args::type_of(info[0]));
  Napi::ArrayBuffer ab = info[0].As<Napi::ArrayBuffer>();
  if (ab.IsDetached()) args.fail_range("buffer was already freed");
  HostBlock* block = nullptr;
  {
    std::lock_guard<std::mutex> lock(g_blocks_mutex);
    auto it = g_blocks.find(ab.Data());
    if (it == g_blocks.end()) args.fail_range("buffer was not allocated by peftjs");
    block = it->second;
    g_blocks.erase(it);
  }
  ab.Detach();
  release(info.Env(), block);
  return info.Env().Undefined();
}

Napi::Value MemoryStats(const Napi::CallbackInfo& info) {
  Args args(info, "memoryStats", 0);
  const HostMemoryStats s = host_memory_stats();
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("liveBytes", Napi::Number::New(info.Env(), static_cast<double>(s.live_bytes)));
  o.Set("cachedBytes", Napi::Number::New(info.Env(), static_cast<double>(s.cached_bytes)));
  o.Set("cacheLimitBytes", Napi::Number::New(info.Env(), static_cast<double>(s.cache_limit)));
  return o;
}

Napi::Value EmptyCache(const Napi::CallbackInfo& info) {
  Args args(info, "emptyCache", 0);
  host_empty_cache();
  return info.Env().Undefined();
}

}  // namespace

void register_memory(Napi::Env env, Napi::Object exports) {
  exports.Set("alloc", Napi::Function::New(env, Alloc, "alloc"));
  exports.Set("free", Napi::Function::New(env, Free, "free"));
  exports.Set("memoryStats", Napi::Function::New(env, MemoryStats, "memoryStats"));
  exports.Set("emptyCache", Napi::Function::New(env, EmptyCache, "emptyCache"));
}

}  // namespace peftjs
