// Reading a packed low-precision weight (lib/ops/dequantize/kernel.ts, PackedWeight: format, n, group,
// data, absmax, nestedCodes, nestedAbsmax, offset) from a params object, every length checked against the
// format before a kernel reads a byte. dequantize takes these fields at its top level, gemmBf16 as bQuant.
//
// Two flavours share the checks (read_packed_weight, over where the arrays are read from):
//  - read_quantized_weight: the CPU entries, every array a typed array in host memory;
//  - DevicePackedWeight: the CUDA entries, where the kernels read device memory. Each array may be a host
//    typed array, as the TypeScript side keeps packed weights today: then the part a call reads (the values
//    [start, end) and their scales) is uploaded to stream-ordered scratch for the call, released in stream
//    order afterwards. Or it may already be on the device, a [handle, byteOffset] byte view for data and
//    nestedCodes and a [handle, offset] float view for absmax and nestedAbsmax: then nothing is copied.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "../../cuda/device_api.h"
#include "../kernels/quant/dequantize.h"
#include "args.h"
#include "device_handle.h"

namespace peftjs {

// The checks of a packed weight's fields, whatever memory its arrays are in: `arrays` reads them
// (arrays.bytes / arrays.floats, null when the field is null or absent; Arrays::kBytesKind names what the
// data field must be).
template <class Arrays>
QuantizedWeight read_packed_weight(const Params& p, Arrays& arrays) {
  constexpr std::pair<const char*, WeightFormat> kFormats[] = {
      {"bfloat16", WeightFormat::Bf16}, {"float16", WeightFormat::F16}, {"int8", WeightFormat::Int8}, {"nf4", WeightFormat::Nf4}};
  QuantizedWeight w{};
  const std::string format = p.string("format");
  bool known = false;
  for (const auto& [name, f] : kFormats)
    if (format == name) w.format = f, known = true;
  if (!known) p.fail_range("unknown format '" + format + "' (expected bfloat16, float16, int8 or nf4)");
  w.n = p.dim("n");
  const bool grouped = w.format == WeightFormat::Int8 || w.format == WeightFormat::Nf4;
  w.group = grouped ? p.dim("group") : 1;
  if (grouped && w.group == 0) p.fail_range("group must be at least 1");
  const int64_t groups = grouped ? (w.n + w.group - 1) / w.group : 0;
  const int64_t bytes =
      w.format == WeightFormat::Nf4 ? (w.n + 1) / 2 : w.format == WeightFormat::Int8 ? w.n : p.checked_mul(w.n, 2);
  w.data = arrays.bytes(p, "data", bytes);
  if (w.data == nullptr) p.fail_type(std::string("argument 'data' must be ") + Arrays::kBytesKind + ", got null");
  w.absmax = arrays.floats(p, "absmax", groups);
  w.nested_codes = arrays.bytes(p, "nestedCodes", groups);
  w.nested_absmax = arrays.floats(p, "nestedAbsmax", (groups + 255) / 256);
  const bool nested = w.nested_codes != nullptr && w.nested_absmax != nullptr;
  if (grouped && w.absmax == nullptr && (w.format == WeightFormat::Int8 || !nested))
    p.fail_range(format + " needs absmax (or, for nf4, nestedCodes and nestedAbsmax)");
  w.offset = p.f32("offset");
  return w;
}

struct HostPackedArrays {
  static constexpr const char* kBytesKind = "a Uint8Array";
  const uint8_t* bytes(const Params& p, const char* name, int64_t needed) { return p.opt_bytes(name, needed); }
  const float* floats(const Params& p, const char* name, int64_t needed) { return p.opt_floats(name, needed); }
};

// The CPU entries' reader: every array in host memory.
inline QuantizedWeight read_quantized_weight(const Params& p) {
  HostPackedArrays arrays;
  return read_packed_weight(p, arrays);
}

// Host arrays copied to stream-ordered device scratch for one call, released (in stream order, so after
// the kernels queued before the release have read them) with the holder.
class DeviceUploads {
 public:
  explicit DeviceUploads(const ValueChecks& c) : checks_(c) {}
  ~DeviceUploads() {
    for (void* p : blocks_) cuda::free_async(p, nullptr);
  }
  DeviceUploads(const DeviceUploads&) = delete;
  DeviceUploads& operator=(const DeviceUploads&) = delete;

  // A device copy of host[0, count) (count >= 1).
  template <class T>
  const T* upload(const T* host, int64_t count) {
    const size_t bytes = static_cast<size_t>(count) * sizeof(T);
    std::string e;
    void* dev = cuda::alloc_async(bytes, &e);
    if (dev == nullptr) checks_.fail_range(e);
    blocks_.push_back(dev);
    if (!cuda::upload_async(dev, host, bytes, &e)) checks_.fail_range(e);
    return static_cast<const T*>(dev);
  }

 private:
  ValueChecks checks_;
  std::vector<void*> blocks_;
};

// The CUDA entries' reader (see the top of the file): reads and checks the fields like read_quantized_weight,
// then stage() makes the values a call reads available on the device.
class DevicePackedWeight {
 public:
  static constexpr const char* kBytesKind = "a Uint8Array or a CUDA byte view [handle, byteOffset]";

  explicit DevicePackedWeight(const Params& p) : uploads_(p) { w_ = read_packed_weight(p, *this); }

  // The weight's values and sizes as read (its arrays in host or device memory: not for a kernel).
  const QuantizedWeight& fields() const { return w_; }

  // The weight as the device kernels read it for values [start, end) (start < end <= n): every pointer in
  // device memory, rebased to the value `base` <= start, so that value i of the weight is value i - base of
  // the result. base is where a scale group starts (for double-quantized NF4, a run of 256 groups, so that
  // the nested scales line up too; for NF4, an even value, so that a code pair's byte does), so only the
  // bytes and scales from there to `end` are uploaded for host arrays.
  struct Staged {
    QuantizedWeight w;
    int64_t base;
  };
  Staged stage(int64_t start, int64_t end) {
    const bool grouped = w_.format == WeightFormat::Int8 || w_.format == WeightFormat::Nf4;
    const bool nested = w_.format == WeightFormat::Nf4 && w_.absmax == nullptr;
    int64_t unit = grouped ? w_.group * (nested ? 256 : 1) : 1;
    if (w_.format == WeightFormat::Nf4 && unit % 2 != 0) unit *= 2;
    const int64_t base = start / unit * unit;
    QuantizedWeight s = w_;
    s.n = end - base;
    s.absmax = nullptr, s.nested_codes = nullptr, s.nested_absmax = nullptr;  // the fields the format reads follow
    switch (w_.format) {
      case WeightFormat::Bf16:
      case WeightFormat::F16: s.data = place(w_.data, 2 * base, 2 * (end - base)); break;
      case WeightFormat::Int8: s.data = place(w_.data, base, end - base); break;
      case WeightFormat::Nf4: s.data = place(w_.data, base / 2, (end + 1) / 2 - base / 2); break;
    }
    if (grouped) {
      const int64_t g0 = base / w_.group, g1 = (end + w_.group - 1) / w_.group;
      if (nested) {
        s.nested_codes = place(w_.nested_codes, g0, g1 - g0);
        s.nested_absmax = place(w_.nested_absmax, g0 / 256, (g1 + 255) / 256 - g0 / 256);
      } else {
        s.absmax = place(w_.absmax, g0, g1 - g0);
      }
    }
    return {s, base};
  }

  // read_packed_weight's hooks: a typed array is host memory (recorded for stage), an array a device view.
  const uint8_t* bytes(const Params& p, const char* name, int64_t needed) {
    const Napi::Value v = p.value(name);
    if (v.IsNull() || v.IsUndefined()) return nullptr;
    if (v.IsTypedArray()) return on_host(p.opt_bytes(name, needed));
    if (v.IsArray()) return device_bytes_of(p, v, name, needed);
    p.fail_type(std::string("argument '") + name + "' must be " + kBytesKind + ", got " + ValueChecks::type_of(v));
  }
  const float* floats(const Params& p, const char* name, int64_t needed) {
    const Napi::Value v = p.value(name);
    if (v.IsNull() || v.IsUndefined()) return nullptr;
    if (v.IsTypedArray()) return on_host(p.opt_floats(name, needed));
    if (v.IsArray()) return device_view_of(p, v, name, needed);
    p.fail_type(std::string("argument '") + name + "' must be a Float32Array or a CUDA view [handle, offset], got " +
                ValueChecks::type_of(v));
  }

 private:
  template <class T>
  const T* on_host(const T* p) {
    host_.push_back(p);
    return p;
  }

  // Elements [first, first + count) of an array as a device pointer: uploaded when the array is in host memory.
  template <class T>
  const T* place(const T* array, int64_t first, int64_t count) {
    for (const void* h : host_)
      if (h == array) return uploads_.upload(array + first, count);
    return array + first;
  }

  QuantizedWeight w_{};
  std::vector<const void*> host_;
  DeviceUploads uploads_;
};

}  // namespace peftjs
