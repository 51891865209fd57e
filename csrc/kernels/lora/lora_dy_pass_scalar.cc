// The portable dy pass at the baseline instruction set (SSE2 on x86-64).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "lora_dy_pass.h"

namespace peftjs {
namespace scalar_impl {
constexpr int kPortableRows = 8;
#include "lora_dy_pass.inc"
}  // namespace scalar_impl

DyPassRowsFn dy_pass_scalar(int64_t r) { return scalar_impl::dy_pass_portable(r); }

}  // namespace peftjs
