// Makes a fresh buffer's pages resident in one system call. A new multi-MB ArrayBuffer is zero pages from
// calloc's mmap: the first write to each 4 KiB page traps into the kernel (~1 us on bare metal, 10-15 us
// on the VMs measured), so a 6 MB matmul output costs ~1,500 traps, more than the GEMM that fills it.
// Asking the kernel to back the range up front (MADV_POPULATE_WRITE, Linux 5.14+) takes one trap, and
// where the range holds whole 2 MiB pieces, transparent huge pages (MADV_HUGEPAGE; honoured in THP's
// "madvise" and "always" modes) cut the page count 512-fold. The contents do not change.
#pragma once

#include <cstddef>

namespace peftjs {

// Populates the whole pages inside [data, data + bytes) for writing; false when the system cannot (an
// older kernel, not Linux, or no memory: the pages then fault in on first touch as before).
bool populate_pages(void* data, size_t bytes);

}  // namespace peftjs
