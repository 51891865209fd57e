#include <cstdint>
#include <cstring>

#include "lora_dy_pass.h"

// Baseline instruction set (SSE2 on x86-64).

namespace peftjs {
namespace scalar_impl {
#include "lora_dy_pass.inc"
}  // namespace scalar_impl

DyPassRowsFn dy_pass_scalar(int64_t r) { return scalar_impl::dy_pass_for_rank(r); }

}  // namespace peftjs


