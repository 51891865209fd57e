#include <algorithm>
#include <cstdint>
#include <cstring>

#include "lora_dy_pass.h"
#include "simd/avx512.h"
#include "simd_target.h"

// AVX-512's 32 vector registers hold eight rows' g accumulators and u rows at once (AVX2's 16 hold four).
PEFTJS_TARGET_BEGIN(PEFTJS_AVX512_ISA)

namespace peftjs {
namespace avx512_impl {
constexpr int kPortableRows = 8;
#include "lora_dy_pass.inc"
}  // namespace avx512_impl

// Registers: ROWS * NV accumulators + ROWS * NV u vectors + ROWS broadcasts stay within 32.
template <bool kG>
DyPassRowsFn regs_avx512(int64_t r) {
  using avx512_impl::dy_rows_regs;
  using simd::F32x16;
  using simd::F32x8;
  switch (r) {
    case 8: return dy_rows_regs<F32x8, 1, 8, kG>;
    case 16: return dy_rows_regs<F32x16, 1, 8, kG>;
    case 32: return dy_rows_regs<F32x16, 2, 4, kG>;
    case 64: return dy_rows_regs<F32x16, 4, 2, kG>;
    default: return nullptr;
  }
}

DyPassRowsFn dy_pass_avx512(int64_t r) {
  const DyPassRowsFn regs = regs_avx512<true>(r);
  return regs ? regs : avx512_impl::dy_pass_portable(r);
}

DyPassRowsFn outer_pass_avx512(int64_t r) { return regs_avx512<false>(r); }

}  // namespace peftjs

PEFTJS_TARGET_END
