// CUDA memory as seen from JS: an External wrapping a DeviceBlock, type-tagged so that no other object
// passes for one. A device view argument is the pair [handle, offsetInFloats].
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

DeviceBlock* device_block(const Args& args, const Napi::Value& v, const char* name);

// Reads the [handle, offset] pair at argument i and checks that `needed` floats fit from the offset on.
float* device_view(const Args& args, size_t i, const char* name, int64_t needed);

}  // namespace peftjs
