// The AVX-512 half of the SIMD vocabulary: F32x16, with the members of F32x8 (avx2.h), so a kernel
// written over a vector type V takes either. Compiled for AVX-512 whatever the build flags; callers
// dispatch on cpu_features (simd/dispatch.h). Include it before a file's own PEFTJS_TARGET_BEGIN.
#pragma once

#include <immintrin.h>

#include "target.h"
#include "avx2.h"

#define PEFTJS_AVX512_ISA "avx512f,avx512vl,avx512dq,avx512bw,avx2,fma"

PEFTJS_TARGET_BEGIN(PEFTJS_AVX512_ISA)

namespace peftjs {
namespace simd {

PEFTJS_SIMD_F32_VEC(F32x16, __m512, 16, _mm512_);

}  // namespace simd
}  // namespace peftjs

PEFTJS_TARGET_END
