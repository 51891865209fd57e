// Embedding lookup and its gradient with the semantics of csrc/kernels/embedding: the forward is a row
// gather; the backward adds dy's rows into dtable in the order of i, as the CPU does, so two tokens with the
// same id are summed in one fixed order and the result is bit-identical to the CPU's. It does so without
// atomics: thread (column c, bucket b) walks every token and handles those whose id falls in bucket b
// (id % kBuckets), so a row of dtable has exactly one writer per column. The id read is the same for a
// whole warp (a warp spans columns of one bucket), so the branch never diverges.
#include <cuda_runtime.h>

#include "common.cuh"
#include "device_api.h"

namespace peftjs {
namespace cuda {
namespace {

constexpr int kBuckets = 16;  // the parallelism beyond the columns: dim x 16 threads

__global__ void gather_rows(const int32_t* ids, int64_t n, int64_t dim, const float* table, float* out) {
  const int64_t total = n * dim;
  for (int64_t e = detail::first_index(); e < total; e += detail::grid_stride()) {
    const int64_t i = e / dim, c = e - i * dim;
    out[e] = table[static_cast<int64_t>(ids[i]) * dim + c];
  }
}

__global__ void scatter_add_rows(const int32_t* ids, int64_t n, int64_t dim, const float* dy, float* dtable) {
  const int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int bucket = static_cast<int>(blockIdx.y);
  if (c >= dim) return;
  for (int64_t i = 0; i < n; ++i) {
    const int32_t id = ids[i];
    if (id % kBuckets != bucket) continue;
    dtable[static_cast<int64_t>(id) * dim + c] += dy[i * dim + c];
  }
}

}  // namespace

bool embedding_forward(const int32_t* ids, int64_t n, int64_t dim, const float* table, float* out, std::string* error) {
  if (n == 0 || dim == 0) return true;
  gather_rows<<<detail::grid_for(n * dim), detail::kThreads, 0, detail::stream()>>>(ids, n, dim, table, out);
  return detail::launched("embedding_forward", error);
}

bool embedding_backward(const int32_t* ids, int64_t n, int64_t dim, const float* dy, float* dtable, std::string* error) {
  if (n == 0 || dim == 0) return true;
  const dim3 grid(static_cast<unsigned int>((dim + detail::kThreads - 1) / detail::kThreads), kBuckets);
  scatter_add_rows<<<grid, detail::kThreads, 0, detail::stream()>>>(ids, n, dim, dy, dtable);
  return detail::launched("embedding_backward", error);
}

}  // namespace cuda
}  // namespace peftjs
