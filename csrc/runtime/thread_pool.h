// A small fixed thread pool for data-parallel kernels. The calling thread takes part in the work, so a
// pool of N threads keeps N-1 workers. Size: PEFTJS_NUM_THREADS, default the number of online cores.
#pragma once

#include <cstdint>
#include <functional>

namespace peftjs {

int num_threads();
// Resizes the pool (>= 1). Not to be called while a parallel region is running.
void set_num_threads(int n);

// Runs task(i) for i in [0, ntasks), spread over the pool; returns when all are done.
// Nested calls (from inside a task) run serially on the calling thread.
void parallel_tasks(int64_t ntasks, const std::function<void(int64_t)>& task);

// Splits [0, n) into contiguous chunks of at least `grain` items and runs body(begin, end) on each.
void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& body);

}  // namespace peftjs
