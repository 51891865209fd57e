#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "lora_dy_pass.h"
#include "../simd/avx512.h"
#include "../simd/target.h"

// AVX-512's 32 vector registers hold eight rows' g accumulators and u rows at once (AVX2's 16 hold four).
PEFTJS_TARGET_BEGIN(PEFTJS_AVX512_ISA)

namespace peftjs {
namespace avx512_impl {
constexpr int kPortableRows = 8;
#include "lora_dy_pass.inc"

// Registers: ROWS * NV accumulators + ROWS * NV u vectors + ROWS broadcasts stay within 32.
constexpr RegsForRank kRegs[] = {regs_entry<simd::F32x8, 1, 8>(8), regs_entry<simd::F32x16, 1, 8>(16),
                                 regs_entry<simd::F32x16, 2, 4>(32), regs_entry<simd::F32x16, 4, 2>(64)};
}  // namespace avx512_impl

DyPassRowsFn dy_pass_avx512(int64_t r) { return avx512_impl::dy_pass_for_rank(avx512_impl::kRegs, r); }
DyPassRowsFn outer_pass_avx512(int64_t r) { return avx512_impl::outer_pass_for_rank(avx512_impl::kRegs, r); }

}  // namespace peftjs

PEFTJS_TARGET_END
