// Device discovery, memory and copies. The addon links the static CUDA runtime, so it loads on machines
// without a driver; there every call here fails with CUDA's reason instead of aborting.
#include <cuda_runtime.h>

#include <atomic>
#include <cstdint>
#include <string>

#include "common.cuh"
#include "device_api.h"

namespace peftjs {
namespace cuda {
namespace {

// The oldest architecture this build carries code for (nvcc lists them in __CUDA_ARCH_LIST__, e.g.
// 800,900): a device below it can run none of the kernels (SASS needs the same major version, PTX a
// newer device).
constexpr int kArchList[] = {
#ifdef __CUDA_ARCH_LIST__
    __CUDA_ARCH_LIST__
#else
    800
#endif
};

constexpr int min_arch() {
  int m = kArchList[0];
  for (int a : kArchList) m = a < m ? a : m;
  return m;
}

std::string arch_name(int arch) {  // 800 -> "8.0"
  return std::to_string(arch / 100) + "." + std::to_string((arch / 10) % 10);
}

std::string runtime_version() {  // CUDART_VERSION 13000 -> "13.0"
  return std::to_string(CUDART_VERSION / 1000) + "." + std::to_string((CUDART_VERSION % 1000) / 10);
}

std::string unavailable_reason(cudaError_t e) {
  const std::string detail = std::string(cudaGetErrorString(e)) + " (" + cudaGetErrorName(e) + ")";
  switch (e) {
    case cudaErrorInsufficientDriver:
      return "no usable NVIDIA driver: it is missing or older than the CUDA " + runtime_version() +
             " runtime this addon was built with: " + detail;
    case cudaErrorNoDevice:
      return "no CUDA device: " + detail;
    default:
      return "CUDA is unavailable: " + detail;
  }
}

}  // namespace

bool compiled() { return true; }

cudaStream_t detail::stream() {
  // Created once (thread-safe static init); never destroyed: the addon lives as long as the process.
  static cudaStream_t s = [] {
    cudaStream_t made = nullptr;
    if (cudaStreamCreateWithFlags(&made, cudaStreamNonBlocking) != cudaSuccess) {
      (void)cudaGetLastError();
      made = nullptr;  // the legacy default stream; the failure resurfaces at the first launch
    }
    return made;
  }();
  return s;
}

int device_count(std::string* why) {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    (void)cudaGetLastError();
    if (why) *why = unavailable_reason(e);
    return 0;
  }
  if (n <= 0) {
    if (why) *why = "no CUDA device found";
    return 0;
  }
  int usable = 0;
  std::string skipped;
  for (int d = 0; d < n; ++d) {
    int major = 0, minor = 0;
    if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, d) != cudaSuccess ||
        cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, d) != cudaSuccess) {
      (void)cudaGetLastError();
      continue;
    }
    const int arch = major * 100 + minor * 10;
    if (arch >= min_arch()) {
      ++usable;
    } else {
      if (!skipped.empty()) skipped += ", ";
      skipped += "device " + std::to_string(d) + " is " + arch_name(arch);
    }
  }
  if (usable == 0) {
    if (why)
      *why = "found " + std::to_string(n) + " CUDA device(s) but none this build can run on (it needs compute " +
             "capability " + arch_name(min_arch()) + " or newer; " + (skipped.empty() ? "attributes unreadable" : skipped) +
             ")";
    return 0;
  }
  if (why) why->clear();
  return usable;
}

// Device memory comes from the device's default memory pool, stream-ordered (cudaMallocAsync): a block freed
// on the stream is reused by the next allocation without a device-wide synchronisation (cudaFree would
// wait for all work), and the pool keeps freed memory cached instead of returning it to the driver.
void* alloc(size_t bytes, std::string* error) { return alloc_async(bytes, error); }

bool free(void* dev, std::string* error) { return free_async(dev, error); }

void* alloc_async(size_t bytes, std::string* error) {
  static const bool pool_configured = [] {
    // Keep freed blocks in the pool across synchronisations (the default threshold 0 trims it at every one).
    cudaMemPool_t pool;
    int device = 0;
    if (cudaGetDevice(&device) == cudaSuccess && cudaDeviceGetDefaultMemPool(&pool, device) == cudaSuccess) {
      uint64_t keep = UINT64_MAX;
      (void)cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep);
    }
    (void)cudaGetLastError();
    return true;
  }();
  (void)pool_configured;
  void* p = nullptr;
  // A zero-byte request still gets a distinct, freeable pointer.
  const cudaError_t e = cudaMallocAsync(&p, bytes == 0 ? 1 : bytes, detail::stream());
  if (e != cudaSuccess) {
    detail::fail(error, "cudaMallocAsync", e);
    return nullptr;
  }
  return p;
}

bool free_async(void* dev, std::string* error) {
  if (dev == nullptr) return true;
  return detail::ok(cudaFreeAsync(dev, detail::stream()), "cudaFreeAsync", error);
}

bool upload_async(void* dev, const void* host, size_t bytes, std::string* error) {
  if (bytes == 0) return true;
  // From pageable memory the driver stages the bytes before returning, so the host buffer is free to change.
  return detail::ok(cudaMemcpyAsync(dev, host, bytes, cudaMemcpyHostToDevice, detail::stream()), "cudaMemcpyAsync (host to device)",
                    error);
}

bool copy_to_device(void* dev, const void* host, size_t bytes, std::string* error) {
  return upload_async(dev, host, bytes, error);
}

namespace {
std::atomic<uint64_t> waits{0};
}  // namespace

uint64_t host_waits() { return waits.load(std::memory_order_relaxed); }

bool copy_to_host(void* host, const void* dev, size_t bytes, std::string* error) {
  if (bytes == 0) return true;
  waits.fetch_add(1, std::memory_order_relaxed);
  return detail::ok(cudaMemcpyAsync(host, dev, bytes, cudaMemcpyDeviceToHost, detail::stream()), "cudaMemcpyAsync (device to host)",
                    error) &&
         detail::ok(cudaStreamSynchronize(detail::stream()), "cudaStreamSynchronize", error);
}

bool read_double(const double* dev, double* host, std::string* error) { return copy_to_host(host, dev, sizeof(double), error); }

bool copy_on_device(void* dev_dst, const void* dev_src, size_t bytes, std::string* error) {
  if (bytes == 0 || dev_dst == dev_src) return true;
  const char* what = "cudaMemcpyAsync (device to device)";
  const uintptr_t d = reinterpret_cast<uintptr_t>(dev_dst), s = reinterpret_cast<uintptr_t>(dev_src);
  if (d < s + bytes && s < d + bytes) {
    // Overlapping views of one block: a device copy does not promise memmove semantics, so go through a
    // stream-ordered temporary.
    void* tmp = alloc_async(bytes, error);
    if (tmp == nullptr) return false;
    const bool copied = detail::ok(cudaMemcpyAsync(tmp, dev_src, bytes, cudaMemcpyDeviceToDevice, detail::stream()), what, error) &&
                        detail::ok(cudaMemcpyAsync(dev_dst, tmp, bytes, cudaMemcpyDeviceToDevice, detail::stream()), what, error);
    const bool freed = free_async(tmp, copied ? error : nullptr);
    return copied && freed;
  }
  return detail::ok(cudaMemcpyAsync(dev_dst, dev_src, bytes, cudaMemcpyDeviceToDevice, detail::stream()), what, error);
}

bool synchronize(std::string* error) {
  waits.fetch_add(1, std::memory_order_relaxed);
  return detail::ok(cudaStreamSynchronize(detail::stream()), "cudaStreamSynchronize", error);
}

}  // namespace cuda
}  // namespace peftjs
