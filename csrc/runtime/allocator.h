// 64-byte aligned host memory with a size-bucketed cache. A fresh large buffer is page-faulted in on
// first touch (a 32 MiB output costs more in faults than the kernel writing it), so freed buffers are
// kept and handed out again for requests of the same size class.
#pragma once

#include <cstddef>
#include <cstdint>

namespace peftjs {

constexpr size_t kAlignment = 64;

// Returns memory for at least `bytes` bytes (64-byte aligned), or nullptr when the system is out.
void* host_alloc(size_t bytes);
// Returns memory from host_alloc to the cache (or the system when the cache is full).
void host_free(void* ptr, size_t bytes);

struct HostMemoryStats {
  uint64_t live_bytes;    // handed out and not yet freed
  uint64_t cached_bytes;  // kept for reuse
  uint64_t cache_limit;   // PEFTJS_CACHE_BYTES, default 2 GiB
};
HostMemoryStats host_memory_stats();
// Releases every cached buffer to the system.
void host_empty_cache();

}  // namespace peftjs
