#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "lora_dy_pass.h"
#include "simd_target.h"

// AVX-512's 32 vector registers hold eight rows' g accumulators and u rows at once (AVX2's 16 hold four).
PEFTJS_TARGET_BEGIN("avx512f,avx512vl,avx512dq,avx512bw,avx2,fma")

namespace peftjs {
namespace avx512_impl {
#define DY_PASS_EIGHT_ROWS
#include "lora_dy_pass.inc"
#undef DY_PASS_EIGHT_ROWS

// The 16-float vector for lora_dy_pass_regs.inc (which brings the 8-float one).
struct Zmm {
  using T = __m512;
  static constexpr int L = 16;
  static T zero() { return _mm512_setzero_ps(); }
  static T load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, T v) { _mm512_storeu_ps(p, v); }
  static T set1(float v) { return _mm512_set1_ps(v); }
  static T fma(T a, T b, T c) { return _mm512_fmadd_ps(a, b, c); }
  static T mul(T a, T b) { return _mm512_mul_ps(a, b); }
  static T add(T a, T b) { return _mm512_add_ps(a, b); }
};

#include "lora_dy_pass_regs.inc"

}  // namespace avx512_impl

DyPassRowsFn dy_pass_avx512(int64_t r) {
  using namespace avx512_impl;
  // Registers: ROWS * NV accumulators + ROWS * NV u vectors + ROWS broadcasts stay within 32.
  switch (r) {
    case 8: return dy_rows_regs<Ymm, 1, 8, true>;
    case 16: return dy_rows_regs<Zmm, 1, 8, true>;
    case 32: return dy_rows_regs<Zmm, 2, 4, true>;
    case 64: return dy_rows_regs<Zmm, 4, 2, true>;
    default: return dy_pass_for_rank(r);
  }
}

DyPassRowsFn outer_pass_avx512(int64_t r) {
  using namespace avx512_impl;
  switch (r) {
    case 8: return dy_rows_regs<Ymm, 1, 8, false>;
    case 16: return dy_rows_regs<Zmm, 1, 8, false>;
    case 32: return dy_rows_regs<Zmm, 2, 4, false>;
    case 64: return dy_rows_regs<Zmm, 4, 2, false>;
    default: return nullptr;
  }
}

}  // namespace peftjs

PEFTJS_TARGET_END
