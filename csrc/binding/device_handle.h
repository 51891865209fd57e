// CUDA memory as seen from JS: an External wrapping a DeviceBlock, type-tagged so that no other object
// passes for one. A device view is the pair [handle, offsetInFloats], as an argument of its own or as a
// field of a params object.
#pragma once

#include <napi.h>

#include "args.h"

namespace peftjs {

struct DeviceBlock {
  void* ptr;
  size_t bytes;
  bool freed;
};

// Tag that marks Externals created by cudaAlloc.
extern const napi_type_tag kDeviceBlockTag;

DeviceBlock* device_block(const ValueChecks& checks, const Napi::Value& v, const char* name);

// Checks that v is a [handle, offset] pair of a live block with `needed` floats from the offset on.
float* device_view_of(const ValueChecks& checks, const Napi::Value& v, const char* name, int64_t needed);

// The [handle, offset] pair at argument i.
inline float* device_view(const Args& args, size_t i, const char* name, int64_t needed) {
  return device_view_of(args, args.value(i), name, needed);
}

// The [handle, offset] pair in the params field `name`.
inline float* device_view(const Params& p, const char* name, int64_t needed) {
  return device_view_of(p, p.value(name), name, needed);
}

}  // namespace peftjs
