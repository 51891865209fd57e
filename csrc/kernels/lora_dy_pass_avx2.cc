#include <algorithm>
#include <cstdint>
#include <cstring>

#include "lora_dy_pass.h"
#include "simd/avx2.h"
#include "simd_target.h"

PEFTJS_TARGET_BEGIN("avx2,fma")

namespace peftjs {
namespace avx2_impl {
constexpr int kPortableRows = 4;
#include "lora_dy_pass.inc"
}  // namespace avx2_impl

// 16 ymm registers: ROWS * NV accumulators + ROWS * NV u vectors + a few more stay within them.
template <bool kG>
DyPassRowsFn regs_avx2(int64_t r) {
  using avx2_impl::dy_rows_regs;
  using simd::F32x8;
  switch (r) {
    case 8: return dy_rows_regs<F32x8, 1, 4, kG>;
    case 16: return dy_rows_regs<F32x8, 2, 2, kG>;
    default: return nullptr;
  }
}

DyPassRowsFn dy_pass_avx2(int64_t r) {
  const DyPassRowsFn regs = regs_avx2<true>(r);
  return regs ? regs : avx2_impl::dy_pass_portable(r);
}

DyPassRowsFn outer_pass_avx2(int64_t r) { return regs_avx2<false>(r); }

}  // namespace peftjs

PEFTJS_TARGET_END
