#include <cstdint>
#include <cstring>

#include "lora_dy_pass.h"
#include "simd_target.h"

PEFTJS_TARGET_BEGIN("avx2,fma")

namespace peftjs {
namespace avx2_impl {
#include "lora_dy_pass.inc"
}  // namespace avx2_impl

DyPassRowsFn dy_pass_avx2(int64_t r) { return avx2_impl::dy_pass_for_rank(r); }

}  // namespace peftjs

PEFTJS_TARGET_END
