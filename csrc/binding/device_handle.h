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

// A byte view of device memory, [handle, byteOffset] (packed low-precision weights kept on the device): checks
// that v is such a pair of a live block with `needed` bytes from the offset on.
inline uint8_t* device_bytes_of(const ValueChecks& checks, const Napi::Value& v, const char* name, int64_t needed) {
  if (!v.IsArray() || v.As<Napi::Array>().Length() != 2)
    checks.fail_type(std::string("argument '") + name + "' must be a CUDA byte view [handle, byteOffset], got " +
                     ValueChecks::type_of(v));
  Napi::Array pair = v.As<Napi::Array>();
  DeviceBlock* block = device_block(checks, pair.Get(0u), name);
  const Napi::Value off = pair.Get(1u);
  const double o = off.IsNumber() ? off.As<Napi::Number>().DoubleValue() : -1;
  if (!(o >= 0) || o != std::floor(o))
    checks.fail_range(std::string("byte offset of '") + name + "' must be a non-negative integer, got " +
                      ValueChecks::type_of(off));
  const double capacity = static_cast<double>(block->bytes);
  const int64_t left = o <= capacity ? static_cast<int64_t>(capacity - o) : 0;
  if (o > capacity || needed > left)
    checks.fail_range(std::string("argument '") + name + "' has " + std::to_string(left) + " bytes from offset " +
                      ValueChecks::show(o) + ", expected at least " + std::to_string(needed));
  const int64_t offset = static_cast<int64_t>(o);
  return static_cast<uint8_t*>(block->ptr) + offset;
}

// The [handle, offset] pair at argument i.
inline float* device_view(const Args& args, size_t i, const char* name, int64_t needed) {
  return device_view_of(args, args.value(i), name, needed);
}

// The [handle, offset] pair in the params field `name`.
inline float* device_view(const Params& p, const char* name, int64_t needed) {
  return device_view_of(p, p.value(name), name, needed);
}

}  // namespace peftjs
