// The register-blocked inner kernels the GEMM driver is built on, one per CPU path.
// A micro-kernel multiplies a packed MR x kc panel of A by a packed kc x NR panel of B and writes the
// MR x NR tile of C through the epilogue: C = alpha * acc + beta * C + bias (beta == 0: C not read).
// Only the top-left rows x cols of the tile are written (edge tiles).
#pragma once

#include <cstdint>

namespace peftjs {

struct TileEpilogue {
  float alpha;
  float beta;
  const float* bias;  // NR values for this tile's columns, or null
};

using MicroKernel = void (*)(int64_t kc, const float* a_panel, const float* b_panel, float* c, int64_t ldc,
                             const TileEpilogue& ep, int rows, int cols);

struct MicroKernelSpec {
  int mr, nr;          // register tile
  int64_t kc, mc, nc;  // cache blocks: kc deep, mc rows of A, nc columns of B
  MicroKernel kernel;
  const char* name;
};

const MicroKernelSpec& microkernel_scalar();
const MicroKernelSpec& microkernel_avx2();
const MicroKernelSpec& microkernel_avx512();

// Writes a full MR x NR accumulator tile (row-major, ld = nr) into C through the epilogue.
inline void store_tile(const float* acc, int nr, float* c, int64_t ldc, const TileEpilogue& ep, int rows,
                       int cols) {
  for (int i = 0; i < rows; ++i) {
    float* crow = c + i * ldc;
    const float* arow = acc + i * nr;
    if (ep.beta == 0.0f) {
      for (int j = 0; j < cols; ++j) crow[j] = ep.alpha * arow[j] + (ep.bias ? ep.bias[j] : 0.0f);
    } else {
      for (int j = 0; j < cols; ++j)
        crow[j] = ep.alpha * arow[j] + ep.beta * crow[j] + (ep.bias ? ep.bias[j] : 0.0f);
    }
  }
}

}  // namespace peftjs
