// Measures this machine's ceilings, so benchmarks can report each kernel's fraction of them:
// the FMA peak (GFLOP/s, all pool threads, the active CPU path's widest vectors) and the memory
// bandwidth (GB/s of a read+write stream over buffers far larger than the caches).
#pragma once

namespace peftjs {

double probe_fma_peak_gflops(double seconds);
double probe_memory_bandwidth_gbps(double seconds);

}  // namespace peftjs
