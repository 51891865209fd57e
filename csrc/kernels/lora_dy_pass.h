// Per-CPU-path builds of the LoRA dy pass over rows [t0, t1): g rows and partial dB / dbias sums.
#pragma once

#include <cstdint>

namespace peftjs {

using DyPassRowsFn = void (*)(const float* dy, const float* b, const float* u, int64_t t0, int64_t t1, int64_t n,
                              int64_t r, float* g, float* db_part, float* dbias_part);

// For ranks up to 64 (specialised at 4, 8, 16, 32, 64).
DyPassRowsFn dy_pass_scalar(int64_t r);
DyPassRowsFn dy_pass_avx2(int64_t r);
DyPassRowsFn dy_pass_avx512(int64_t r);
// The dB half alone, as out^T += a^T v over rows [t0, t1): fn(a, nullptr, v, t0, t1, cols, r, nullptr, out, nullptr)
// with a [T, cols], v [T, r], out [cols, r]. LoRA's dA^T = x^T g. Ranks 8, 16 (and on AVX-512 32, 64);
// null otherwise.
DyPassRowsFn outer_pass_avx2(int64_t r);
DyPassRowsFn outer_pass_avx512(int64_t r);

}  // namespace peftjs
