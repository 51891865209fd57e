// Where a binding's buffers live, for the entry points that serve both the CPU and CUDA backends from one
// reader: HostBuffers reads Float32Arrays over host memory, DeviceBuffers [handle, offset] views of device
// memory (device_handle.h). A binding is a template over a policy that adds its kernel calls to one of these.
#pragma once

#include <string>
#include <utility>

#include "args.h"
#include "device_handle.h"

namespace peftjs {

struct HostBuffers {
  static float* view(const Params& p, const char* name, int64_t needed) { return p.floats(name, needed); }
  static float* opt_view(const Params& p, const char* name, int64_t needed) { return p.opt_floats(name, needed); }
};

struct DeviceBuffers {
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
