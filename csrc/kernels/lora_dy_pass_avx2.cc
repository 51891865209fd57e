#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "lora_dy_pass.h"
#include "simd_target.h"

PEFTJS_TARGET_BEGIN("avx2,fma")

namespace peftjs {
namespace avx2_impl {
#include "lora_dy_pass.inc"

#include "lora_dy_pass_regs.inc"
}  // namespace avx2_impl

// 16 ymm registers: ROWS * NV accumulators + ROWS * NV u vectors + a few more stay within them.
DyPassRowsFn dy_pass_avx2(int64_t r) {
  using namespace avx2_impl;
  switch (r) {
    case 8: return dy_rows_regs<Ymm, 1, 4, true>;
    case 16: return dy_rows_regs<Ymm, 2, 2, true>;
    default: return dy_pass_for_rank(r);
  }
}

DyPassRowsFn outer_pass_avx2(int64_t r) {
  using namespace avx2_impl;
  switch (r) {
    case 8: return dy_rows_regs<Ymm, 1, 4, false>;
    case 16: return dy_rows_regs<Ymm, 2, 2, false>;
    default: return nullptr;
  }
}

}  // namespace peftjs

PEFTJS_TARGET_END
