// Helpers shared by the CUDA translation units: error reporting into the std::string* of device_api.h,
// launch checks, and 1-d grid sizing for grid-stride loops over int64 element counts.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <string>

namespace peftjs {
namespace cuda {
namespace detail {

// The one stream every kernel and copy of the backend runs on (device_runtime.cu): created non-blocking on
// first use, so work on it never waits for the legacy default stream and the host waits only where a value
// is read back (copy_to_host, read_double, synchronize).
cudaStream_t stream();

constexpr int kThreads = 256;             // block size of the 1-d kernels
constexpr int64_t kMaxBlocks = 1 << 16;  // grid-stride loops cover the rest

// Sets *error (when given) to "<what> failed: <CUDA's message>" and clears the runtime's last error, so
// that a non-sticky failure is not reported again by the next launch check. Returns false.
inline bool fail(std::string* error, const char* what, cudaError_t e) {
  if (error) *error = std::string(what) + " failed: " + cudaGetErrorString(e);
  (void)cudaGetLastError();
  return false;
}

// Checks a CUDA runtime call.
inline bool ok(cudaError_t e, const char* what, std::string* error) {
  return e == cudaSuccess ? true : fail(error, what, e);
}

// Checks the launch just made (configuration errors, no device, a sticky error from earlier work).
inline bool launched(const char* kernel, std::string* error) {
  const cudaError_t e = cudaGetLastError();
  if (e == cudaSuccess) return true;
  if (error) *error = std::string(kernel) + " launch failed: " + cudaGetErrorString(e);
  return false;
}

// Blocks for a grid-stride loop over n items (n > 0), at most kMaxBlocks.
inline unsigned int grid_for(int64_t n, int threads = kThreads) {
  const int64_t blocks = (n + threads - 1) / threads;
  return static_cast<unsigned int>(blocks < kMaxBlocks ? blocks : kMaxBlocks);
}

// Grid-stride indices: for (int64_t i = first_index(); i < n; i += grid_stride()).
__device__ __forceinline__ int64_t first_index() {
  return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ __forceinline__ int64_t grid_stride() { return static_cast<int64_t>(gridDim.x) * blockDim.x; }

}  // namespace detail
}  // namespace cuda
}  // namespace peftjs
