// Host memory for tensors: 64-byte aligned blocks from the cached allocator, handed to JS as external
// ArrayBuffers (no copy). free() detaches the buffer, so every Float32Array over it becomes empty and a
// later kernel call sees length 0 instead of freed memory; the GC finalizer covers buffers never freed.
//
// Node caps an external ArrayBuffer at buffer.constants.MAX_LENGTH (4 GiB up to Node 21), and past it
// napi_create_external_arraybuffer runs the finalizer itself and then fails, so node-addon-api frees
// its finalizer data a second time: a double-free abort. Larger blocks are therefore ordinary V8
// ArrayBuffers (zero pages from calloc's mmap, 16-byte aligned, which every kernel accepts), tracked
// here only so free() can release them at once and memoryStats() can count them.
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

// The largest block handed out as an external ArrayBuffer (Node 20's MAX_LENGTH; newer Nodes allow more,
// but one rule everywhere keeps the two kinds of block easy to reason about).
constexpr uint64_t kMaxExternalBytes = uint64_t{1} << 32;

std::mutex g_blocks_mutex;
std::unordered_map<void*, HostBlock*> g_blocks;     // live external blocks by data pointer
// A V8-owned block: its finalizer may run long after free(), when the address can already belong to a
// newer block, so entries are forgotten only by the block that made them.
struct LargeBlock {
  void* data;
  size_t bytes;
};
std::unordered_map<void*, LargeBlock*> g_large_blocks;  // live V8-owned blocks past kMaxExternalBytes
uint64_t g_large_bytes = 0;

void forget_large(LargeBlock* block) {
  std::lock_guard<std::mutex> lock(g_blocks_mutex);
  auto it = g_large_blocks.find(block->data);
  if (it == g_large_blocks.end() || it->second != block) return;
  g_large_bytes -= block->bytes;
  g_large_blocks.erase(it);
}

Napi::Value AllocLarge(const Args& args, size_t bytes) {
  // Through JS's ArrayBuffer constructor: it throws a RangeError when the memory cannot be had, where
  // napi_create_arraybuffer (v8::ArrayBuffer::New) ends the process with a fatal out-of-memory error.
  Napi::Env env = args.env();
  Napi::Value value;
  try {
    Napi::Function ctor = env.Global().Get("ArrayBuffer").As<Napi::Function>();
    value = ctor.New({Napi::Number::New(env, static_cast<double>(bytes))});
  } catch (const Napi::Error&) {
    args.fail_range("out of memory allocating " + std::to_string(bytes) + " bytes");
  }
  Napi::ArrayBuffer ab = value.As<Napi::ArrayBuffer>();
  auto* block = new LargeBlock{ab.Data(), bytes};
  {
    std::lock_guard<std::mutex> lock(g_blocks_mutex);
    g_large_blocks[block->data] = block;
    g_large_bytes += bytes;
  }
  // Kept here until free() or the GC: its finalizer only forgets the pointer, V8 owns the memory.
  ab.AddFinalizer(
      [](Napi::Env, LargeBlock* b) {
        forget_large(b);
        delete b;
      },
      block);
  return ab;
}

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
  if (static_cast<uint64_t>(bytes) > kMaxExternalBytes) return AllocLarge(args, static_cast<size_t>(bytes));
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
  LargeBlock* large = nullptr;
  {
    std::lock_guard<std::mutex> lock(g_blocks_mutex);
    auto it = g_blocks.find(ab.Data());
    if (it != g_blocks.end()) {
      block = it->second;
      g_blocks.erase(it);
    } else {
      auto lt = g_large_blocks.find(ab.Data());
      if (lt == g_large_blocks.end()) args.fail_range("buffer was not allocated by peftjs");
      large = lt->second;
    }
  }
  if (large != nullptr) {
    forget_large(large);  // the finalizer deletes it
    ab.Detach();          // V8 drops the backing store now rather than at the next full GC
    return info.Env().Undefined();
  }
  ab.Detach();
  release(info.Env(), block);
  return info.Env().Undefined();
}

Napi::Value MemoryStats(const Napi::CallbackInfo& info) {
  Args args(info, "memoryStats", 0);
  const HostMemoryStats s = host_memory_stats();
  uint64_t large_bytes;
  {
    std::lock_guard<std::mutex> lock(g_blocks_mutex);
    large_bytes = g_large_bytes;
  }
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("liveBytes", Napi::Number::New(info.Env(), static_cast<double>(s.live_bytes + large_bytes)));
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
  set_functions(env, exports, {
      {"alloc", Alloc},
      {"free", Free},
      {"memoryStats", MemoryStats},
      {"emptyCache", EmptyCache},
  });
}

}  // namespace peftjs
