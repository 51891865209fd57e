#include "dequantize.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <vector>

#include "../../runtime/thread_pool.h"
#include "../simd/dispatch.h"
#include "dequantize_paths.h"

namespace peftjs {
namespace {

constexpr int64_t kGrain = 1 << 14;

}  // namespace

const float kNf4Codes[16] = {-1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
                            -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,
                            0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f,
                            0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f};

namespace {

// bitsandbytes' signed dynamic map (create_dynamic_map), made with float32 steps as lib/quant/dynamic_map.ts.
std::array<float, 256> make_dynamic_map() {
  std::vector<float> data;
  for (int i = 0; i < 7; ++i) {
    const int items = (1 << i) + 1;
    const float start = 0.1f, end = 1.0f, step = (end - start) / static_cast<float>(items - 1);
    std::vector<float> bounds(items);
    for (int k = 0; k < items; ++k) {
      const volatile float along = 2 * k < items ? static_cast<float>(k) * step : static_cast<float>(items - 1 - k) * step;
      bounds[k] = 2 * k < items ? start + along : end - along;
    }
    const volatile float scale = static_cast<float>(std::pow(10.0, i - 6));
    for (int k = 0; k + 1 < items; ++k) {
      const volatile float sum = bounds[k] + bounds[k + 1];
      const float mean = sum / 2.0f;
      data.push_back(scale * mean);
      data.push_back(-scale * mean);
    }
  }
  data.push_back(0.0f);
  data.push_back(1.0f);
  std::sort(data.begin(), data.end());
  std::array<float, 256> out{};
  std::copy(data.begin(), data.end(), out.begin());
  return out;
}

}  // namespace

const std::array<float, 256>& dynamic_map() {
  static const std::array<float, 256> map = make_dynamic_map();
  return map;
}

namespace {

inline float bf16_to_f32(uint16_t bits) {
  const uint32_t u = static_cast<uint32_t>(bits) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

inline float f16_to_f32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff, u;
  if (exp == 0x1f) {
    u = sign | 0x7f800000u | (mant << 13);  // inf, NaN
  } else if (exp != 0) {
    u = sign | ((exp + 112) << 23) | (mant << 13);
  } else if (mant == 0) {
    u = sign;
  } else {  // subnormal: normalize
    exp = 113;
    while ((mant & 0x400) == 0) {
      mant <<= 1;
      --exp;
    }
    u = sign | (exp << 23) | ((mant & 0x3ff) << 13);
  }
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

inline uint16_t u16_at(const uint8_t* p, int64_t i) { return static_cast<uint16_t>(p[2 * i] | (p[2 * i + 1] << 8)); }

}  // namespace

float nf4_block_absmax(const QuantizedWeight& w, int64_t b) {
  if (w.absmax) return w.absmax[b];
  return dynamic_map()[w.nested_codes[b]] * w.nested_absmax[b / 256] + w.offset;
}

void dequantize_range_scalar(const QuantizedWeight& w, int64_t s, int64_t e, float* out) {
  switch (w.format) {
    case WeightFormat::Bf16:
      for (int64_t i = s; i < e; ++i) out[i] = bf16_to_f32(u16_at(w.data, i));
      return;
    case WeightFormat::F16:
      for (int64_t i = s; i < e; ++i) out[i] = f16_to_f32(u16_at(w.data, i));
      return;
    case WeightFormat::Int8: {
      const int8_t* q = reinterpret_cast<const int8_t*>(w.data);
      for (int64_t i = s; i < e; ++i) out[i] = static_cast<float>(q[i]) * w.absmax[i / w.group] / 127.0f;
      return;
    }
    case WeightFormat::Nf4: {
      int64_t block = -1;
      float absmax = 0.0f;
      for (int64_t i = s; i < e; ++i) {
        if (i / w.group != block) {
          block = i / w.group;
          absmax = nf4_block_absmax(w, block);
        }
        const uint8_t byte = w.data[i >> 1];
        out[i] = kNf4Codes[(i & 1) ? (byte & 0x0f) : (byte >> 4)] * absmax;
      }
      return;
    }
  }
}

void dequantize(const QuantizedWeight& w, int64_t start, int64_t end, float* out) {
  if (end <= start) return;
  dynamic_map();  // built once, before the threads read it
  using Range = void (*)(const QuantizedWeight&, int64_t, int64_t, float*);
  const Range range = for_cpu_path<Range>(&dequantize_range_scalar, &dequantize_range_avx2, &dequantize_range_avx512);
  float* base = out - start;
  parallel_for(end - start, kGrain, [&](int64_t s, int64_t e) { range(w, start + s, start + e, base); });
}

}  // namespace peftjs
