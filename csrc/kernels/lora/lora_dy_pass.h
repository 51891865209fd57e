// Per-CPU-path builds of the LoRA dy pass over rows [t0, t1): g rows and partial dB / dbias sums. One
// file family: the two variants (portable, register-blocked over simd/) in lora_dy_pass.inc, built per
// path by lora_dy_pass_{scalar,avx2,avx512}.cc; lora.cc picks a path's build with simd/dispatch.h.
#pragma once

#include <cstdint>

namespace peftjs {

using DyPassRowsFn = void (*)(const float* dy, const float* b, const float* u, int64_t t0, int64_t t1, int64_t n,
                              int64_t r, float* g, float* db_part, float* dbias_part);
// A path's kernel for rank r.
using DyPassForRank = DyPassRowsFn (*)(int64_t r);

// Any rank (register-blocked where the path has it: AVX2 8, 16; AVX-512 8, 16, 32, 64).
DyPassRowsFn dy_pass_scalar(int64_t r);
DyPassRowsFn dy_pass_avx2(int64_t r);
DyPassRowsFn dy_pass_avx512(int64_t r);
// The dB half alone, as out^T += a^T v over rows [t0, t1): fn(a, nullptr, v, t0, t1, cols, r, nullptr, out, nullptr)
// with a [T, cols], v [T, r], out [cols, r]. LoRA's dA^T = x^T g. The register-blocked ranks only; null
// otherwise.
DyPassRowsFn outer_pass_avx2(int64_t r);
DyPassRowsFn outer_pass_avx512(int64_t r);

}  // namespace peftjs
