#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "lora_dy_pass.h"
#include "../simd/avx2.h"
#include "../simd/target.h"

PEFTJS_TARGET_BEGIN("avx2,fma")

namespace peftjs {
namespace avx2_impl {
constexpr int kPortableRows = 4;
#include "lora_dy_pass.inc"

// 16 ymm registers: ROWS * NV accumulators + ROWS * NV u vectors + a few more stay within them.
constexpr RegsForRank kRegs[] = {regs_entry<simd::F32x8, 1, 4>(8), regs_entry<simd::F32x8, 2, 2>(16)};
}  // namespace avx2_impl

DyPassRowsFn dy_pass_avx2(int64_t r) { return avx2_impl::dy_pass_for_rank(avx2_impl::kRegs, r); }
DyPassRowsFn outer_pass_avx2(int64_t r) { return avx2_impl::outer_pass_for_rank(avx2_impl::kRegs, r); }

}  // namespace peftjs

PEFTJS_TARGET_END
