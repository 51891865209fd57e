// Portable micro-kernel: plain C++ the compiler vectorizes with the baseline ISA (SSE2 on x86-64).
#include "gemm_microkernel.h"

namespace peftjs {
namespace {

constexpr int MR = 4;
constexpr int NR = 8;

void kernel(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, const TileEpilogue& ep,
            int rows, int cols) {
  float acc[MR * NR] = {};
  for (int64_t p = 0; p < kc; ++p) {
    for (int i = 0; i < MR; ++i) {
      const float ai = a[i];
      for (int j = 0; j < NR; ++j) acc[i * NR + j] += ai * b[j];
    }
    a += MR;
    b += NR;
  }
  store_tile(acc, NR, c, ldc, ep, rows, cols);
}

}  // namespace

void pack_rows_scalar(const float* src, int64_t ld, int rows, int64_t kc, int w, float* dst) {
  for (int r = 0; r < rows; ++r)
    for (int64_t p = 0; p < kc; ++p) dst[p * w + r] = src[r * ld + p];
  for (int r = rows; r < w; ++r)
    for (int64_t p = 0; p < kc; ++p) dst[p * w + r] = 0.0f;
}

const MicroKernelSpec& microkernel_scalar() {
  static const MicroKernelSpec spec{MR, NR, 256, 128, 2048, kernel, "scalar 4x8", pack_rows_scalar};
  return spec;
}

}  // namespace peftjs
