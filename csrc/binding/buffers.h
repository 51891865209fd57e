// Where a binding's buffers live, for the entry points that serve both the CPU and CUDA backends from one
// reader: HostBuffers reads Float32Arrays over host memory, DeviceBuffers [handle, offset] views of device
// memory (device_handle.h). A binding is a template over a policy that adds its kernel calls to one of these.
#pragma once

#include <string>
#include <utility>

#include "../../cuda/device_api.h"
#include "args.h"
#include "device_handle.h"

namespace peftjs {

// Integer inputs (token ids, positions, targets, key masks) come from JS as Int32Arrays in host memory, where
// the binding checks their values. HostInts uses them in place; DeviceInts uploads them to stream-ordered
// device scratch that is released, again in stream order, once the launch that reads it is queued.
class HostInts {
 public:
  HostInts(const ValueChecks&, const int32_t* host, int64_t) : data_(host) {}
  const int32_t* get() const { return data_; }

 private:
  const int32_t* data_;
};

class DeviceInts {
 public:
  DeviceInts(const ValueChecks& c, const int32_t* host, int64_t n) {
    if (host == nullptr) return;
    std::string e;
    const size_t bytes = static_cast<size_t>(n) * sizeof(int32_t);
    data_ = static_cast<int32_t*>(cuda::alloc_async(bytes, &e));
    if (data_ == nullptr) c.fail_range(e);
    if (!cuda::upload_async(data_, host, bytes, &e)) {
      cuda::free_async(data_, nullptr);
      c.fail_range(e);
    }
  }
  ~DeviceInts() { cuda::free_async(data_, nullptr); }
  DeviceInts(const DeviceInts&) = delete;
  DeviceInts& operator=(const DeviceInts&) = delete;
  const int32_t* get() const { return data_; }

 private:
  int32_t* data_ = nullptr;
};

struct HostBuffers {
  using Ints = HostInts;
  static float* view(const Params& p, const char* name, int64_t needed) { return p.floats(name, needed); }
  static float* opt_view(const Params& p, const char* name, int64_t needed) { return p.opt_floats(name, needed); }
};

struct DeviceBuffers {
  using Ints = DeviceInts;
  static float* view(const Params& p, const char* name, int64_t needed) { return device_view(p, name, needed); }
  static float* opt_view(const Params& p, const char* name, int64_t needed) {
    return p.is_null(name) ? nullptr : device_view(p, name, needed);
  }
  // A CUDA entry's failure (device_api.h: false with the reason) as the binding's RangeError.
  static void check(const ValueChecks& c, bool ok, const std::string& error) {
    if (!ok) c.fail_range(error);
  }
  // Calls a device_api.h entry with the given arguments and its error string, and checks it.
  template <class F, class... A>
  static void run(const ValueChecks& c, F entry, A&&... args) {
    std::string e;
    check(c, entry(std::forward<A>(args)..., &e), e);
  }
};

}  // namespace peftjs
