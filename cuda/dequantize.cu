// Frozen low-precision weights back to float32 on the device, with the semantics of
// csrc/kernels/quant/dequantize.cc: bfloat16 and float16 bits (exact, bit manipulation as the CPU does it,
// NaN payloads kept), int8 with absmax groups (q * absmax / 127, two roundings), NF4 with the
// bitsandbytes code table and, when double-quantized, absmax[b] = map[codes[b]] * nested[b / 256] + offset
// (each operation rounded on its own: no FMA, so the values are the CPU's bit for bit).
//
// Every pointer of the QuantizedWeight is device memory; the bytes are read one at a time, so a weight may
// start at any byte address. A thread writes a run of kRun consecutive values, so that the group index
// (a 64-bit division) is computed once per run and then stepped. The CPU's own tables (NF4 codes, the
// dynamic map) are passed by value as a kernel argument (no copy to set up); blocks that need the map move
// it to shared memory.
#include <cuda_runtime.h>

#include <algorithm>
#include <array>
#include <cstdint>

#include "../csrc/kernels/quant/dequantize_paths.h"
#include "common.cuh"
#include "device_api.h"

namespace peftjs {
namespace cuda {
namespace {

constexpr int kRun = 8;  // values per thread and grid-stride step

// The CPU's lookup tables (dequantize.cc: NF4's codes, the dynamic map of double-quantized absmax codes),
// handed to the kernel by value as its arguments: no copy of their definitions here, no memcpy.
struct Tables {
  float nf4[16];
  float dynamic[256];
};

Tables make_tables() {
  Tables t{};
  std::copy(kNf4Codes, kNf4Codes + 16, t.nf4);
  const std::array<float, 256>& map = dynamic_map();
  std::copy(map.begin(), map.end(), t.dynamic);
  return t;
}

const Tables& tables() {
  static const Tables t = make_tables();
  return t;
}

__device__ __forceinline__ uint16_t u16_at(const uint8_t* p, int64_t i) {
  return static_cast<uint16_t>(p[2 * i] | (p[2 * i + 1] << 8));
}

__device__ __forceinline__ float bf16_to_f32(uint16_t bits) { return __uint_as_float(static_cast<uint32_t>(bits) << 16); }

// dequantize.cc f16_to_f32: exact, NaN payloads kept.
__device__ __forceinline__ float f16_to_f32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff, u;
  if (exp == 0x1f) {
    u = sign | 0x7f800000u | (mant << 13);  // inf, NaN
  } else if (exp != 0) {
    u = sign | ((exp + 112) << 23) | (mant << 13);
  } else if (mant == 0) {
    u = sign;
  } else {  // subnormal: normalize, as the CPU's loop does in one step
    const int shift = __clz(mant) - 21;  // the shifts that move the top set bit to bit 10
    exp = 113 - shift;
    mant <<= shift;
    u = sign | (exp << 23) | ((mant & 0x3ff) << 13);
  }
  return __uint_as_float(u);
}

// The absmax of group b: the stored one, or the double-quantized form (map in shared memory).
template <WeightFormat F>
__device__ __forceinline__ float group_absmax(const QuantizedWeight& w, int64_t b, const float* map) {
  if (F == WeightFormat::Int8 || w.absmax != nullptr) return w.absmax[b];
  return __fadd_rn(__fmul_rn(map[w.nested_codes[b]], w.nested_absmax[b / 256]), w.offset);
}

template <WeightFormat F>
__device__ __forceinline__ float value_at(const QuantizedWeight& w, int64_t i, float absmax, const float* nf4) {
  if (F == WeightFormat::Bf16) return bf16_to_f32(u16_at(w.data, i));
  if (F == WeightFormat::F16) return f16_to_f32(u16_at(w.data, i));
  if (F == WeightFormat::Int8) {
    const float q = static_cast<float>(static_cast<int8_t>(w.data[i]));
    return __fdiv_rn(__fmul_rn(q, absmax), 127.0f);
  }
  const uint8_t byte = w.data[i >> 1];
  return __fmul_rn(nf4[(i & 1) ? (byte & 0x0f) : (byte >> 4)], absmax);
}

// out[i - start] for i in [start, start + count), a run of kRun values per thread.
template <WeightFormat F>
__global__ void dequantize_kernel(QuantizedWeight w, int64_t start, int64_t count, float* out, Tables tables) {
  constexpr bool kGrouped = F == WeightFormat::Int8 || F == WeightFormat::Nf4;
  __shared__ float smap[256];
  if (F == WeightFormat::Nf4 && w.absmax == nullptr) {  // uniform: every thread takes the branch or none
    for (int b = threadIdx.x; b < 256; b += blockDim.x) smap[b] = tables.dynamic[b];
    __syncthreads();
  }
  const int64_t runs = (count + kRun - 1) / kRun;
  for (int64_t r = detail::first_index(); r < runs; r += detail::grid_stride()) {
    const int64_t i0 = start + r * kRun;
    const int64_t i1 = i0 + kRun < start + count ? i0 + kRun : start + count;
    int64_t group = 0, next = INT64_MAX;
    float absmax = 0.0f;
    if (kGrouped) {
      group = i0 / w.group;
      next = (group + 1) * w.group;
      absmax = group_absmax<F>(w, group, smap);
    }
    for (int64_t i = i0; i < i1; ++i) {
      if (kGrouped && i == next) {  // a group of at least one value: at most one boundary per step
        ++group;
        next += w.group;
        absmax = group_absmax<F>(w, group, smap);
      }
      out[i - start] = value_at<F>(w, i, absmax, tables.nf4);
    }
  }
}

template <WeightFormat F>
bool launch(const QuantizedWeight& w, int64_t start, int64_t end, float* out, const Tables& t, std::string* error) {
  const int64_t runs = (end - start + kRun - 1) / kRun;
  dequantize_kernel<F><<<detail::grid_for(runs), detail::kThreads, 0, detail::stream()>>>(w, start, end - start, out, t);
  return detail::launched("dequantize", error);
}

}  // namespace

bool dequantize(const QuantizedWeight& w, int64_t start, int64_t end, float* out, std::string* error) {
  if (end <= start) return true;
  if ((w.format == WeightFormat::Int8 || w.format == WeightFormat::Nf4) && w.group < 1) {
    if (error) *error = "dequantize: group must be at least 1, got " + std::to_string(w.group);
    return false;
  }
  const Tables& t = tables();
  switch (w.format) {
    case WeightFormat::Bf16: return launch<WeightFormat::Bf16>(w, start, end, out, t, error);
    case WeightFormat::F16: return launch<WeightFormat::F16>(w, start, end, out, t, error);
    case WeightFormat::Int8: return launch<WeightFormat::Int8>(w, start, end, out, t, error);
    case WeightFormat::Nf4: return launch<WeightFormat::Nf4>(w, start, end, out, t, error);
  }
  if (error) *error = "dequantize: unknown weight format";
  return false;
}

}  // namespace cuda
}  // namespace peftjs
