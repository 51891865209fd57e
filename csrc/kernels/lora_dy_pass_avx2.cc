#include <cstdint>
#include <cstring>

#include "lora_dy_pass.h"

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#endif

namespace peftjs {
namespace avx2_impl {
#include "lora_dy_pass.inc"
}  // namespace avx2_impl

DyPassRowsFn dy_pass_avx2(int64_t r) { return avx2_impl::dy_pass_for_rank(r); }

}  // namespace peftjs

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
