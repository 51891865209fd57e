// LoRA's rank-r projection u = x A^T (x [T, K], A [r, K], u [T, r]) for small ranks on AVX-512 CPUs.
// As a GEMM it has N = r: the skinny NT kernel takes dot products along K and pays a horizontal sum
// per output, the blocked one packs all of x to use it once. Here A is transposed once (r x K, a few
// KB) and each step broadcasts one x value per row against a whole A^T row, eight rows of x at a time:
// x is read once, sequentially, and every u row stays in registers until it is complete.
#pragma once

#include <cstdint>

namespace peftjs {

// The ranks this kernel takes (8 and 16 exactly: one or two vectors per row); others use the GEMM.
bool lora_project_supported(int64_t r);

// u = x A^T (overwritten); splits rows over the thread pool. The caller checks the AVX-512 CPU path.
void lora_project_avx512(const float* x, int64_t ldx, const float* a, int64_t t, int64_t k, int64_t r, float* u);

}  // namespace peftjs
