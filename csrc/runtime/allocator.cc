#include "allocator.h"

#include <cstdlib>
#include <map>
#include <mutex>
#include <vector>

namespace peftjs {
namespace {

// Size classes: four per power of two above 4 KiB (at most 25% slack), 64-byte steps below.
size_t size_class(size_t bytes) {
  if (bytes <= 4096) return (bytes + 63) & ~size_t{63};
  size_t pow2 = 4096;
  while (pow2 * 2 < bytes) pow2 *= 2;
  const size_t quarter = pow2 / 4;
  return (bytes + quarter - 1) / quarter * quarter;
}

struct Cache {
  std::mutex mutex;
  std::map<size_t, std::vector<void*>> free_lists;
  uint64_t cached = 0;
  uint64_t live = 0;
  uint64_t limit = 0;

  Cache() {
    limit = uint64_t{2} << 30;
    if (const char* env = std::getenv("PEFTJS_CACHE_BYTES")) limit = std::strtoull(env, nullptr, 10);
  }
};

Cache& cache() {
  static Cache* c = new Cache();  // never destroyed: finalizers may run during process teardown
  return *c;
}

}  // namespace

void* host_alloc(size_t bytes) {
  const size_t cls = size_class(bytes == 0 ? 1 : bytes);
  Cache& c = cache();
  {
    std::lock_guard<std::mutex> lock(c.mutex);
    auto it = c.free_lists.find(cls);
    if (it != c.free_lists.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      c.cached -= cls;
      c.live += cls;
      return p;
    }
  }
  void* p = std::aligned_alloc(kAlignment, cls);
  if (p == nullptr) {
    host_empty_cache();
    p = std::aligned_alloc(kAlignment, cls);
    if (p == nullptr) return nullptr;
  }
  std::lock_guard<std::mutex> lock(c.mutex);
  c.live += cls;
  return p;
}

void host_free(void* ptr, size_t bytes) {
  if (ptr == nullptr) return;
  const size_t cls = size_class(bytes == 0 ? 1 : bytes);
  Cache& c = cache();
  {
    std::lock_guard<std::mutex> lock(c.mutex);
    c.live -= cls;
    if (c.cached + cls <= c.limit) {
      c.free_lists[cls].push_back(ptr);
      c.cached += cls;
      return;
    }
  }
  std::free(ptr);
}

HostMemoryStats host_memory_stats() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  return {c.live, c.cached, c.limit};
}

void host_empty_cache() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  for (auto& [cls, list] : c.free_lists) {
    for (void* p : list) std::free(p);
    list.clear();
  }
  c.cached = 0;
}

}  // namespace peftjs
