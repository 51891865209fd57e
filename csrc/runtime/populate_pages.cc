#include "populate_pages.h"

#include <cstdint>

#ifdef __linux__
#include <sys/mman.h>
#include <unistd.h>
#endif

namespace peftjs {

#ifdef __linux__
namespace {

#ifndef MADV_POPULATE_WRITE
constexpr int MADV_POPULATE_WRITE = 23;  // linux/mman.h since 5.14; older C libraries lack the name
#endif

constexpr uintptr_t kHugePage = uintptr_t{2} << 20;

uintptr_t round_up(uintptr_t v, uintptr_t to) { return (v + to - 1) / to * to; }
uintptr_t round_down(uintptr_t v, uintptr_t to) { return v / to * to; }

}  // namespace

bool populate_pages(void* data, size_t bytes) {
  static const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const uintptr_t start = reinterpret_cast<uintptr_t>(data);
  const uintptr_t begin = round_up(start, page), end = round_down(start + bytes, page);
  if (end <= begin) return false;
  const uintptr_t huge_begin = round_up(begin, kHugePage), huge_end = round_down(end, kHugePage);
  // Advice only: a kernel without THP says EINVAL and the range stays on 4 KiB pages.
  if (huge_end > huge_begin) madvise(reinterpret_cast<void*>(huge_begin), huge_end - huge_begin, MADV_HUGEPAGE);
  return madvise(reinterpret_cast<void*>(begin), end - begin, MADV_POPULATE_WRITE) == 0;
}
#else
bool populate_pages(void*, size_t) { return false; }
#endif

}  // namespace peftjs
