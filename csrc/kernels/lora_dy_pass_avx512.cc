#include <cstdint>
#include <cstring>

#include "lora_dy_pass.h"
#include "simd_target.h"

// AVX-512's 32 vector registers hold eight rows' g accumulators and u rows at once (AVX2's 16 hold four).
PEFTJS_TARGET_BEGIN("avx512f,avx512vl,avx512dq,avx512bw,avx2,fma")

namespace peftjs {
namespace avx512_impl {
#define DY_PASS_EIGHT_ROWS
#include "lora_dy_pass.inc"
#undef DY_PASS_EIGHT_ROWS
}  // namespace avx512_impl

DyPassRowsFn dy_pass_avx512(int64_t r) { return avx512_impl::dy_pass_for_rank(r); }

}  // namespace peftjs

PEFTJS_TARGET_END
