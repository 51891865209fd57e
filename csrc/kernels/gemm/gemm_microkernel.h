// The register-blocked inner kernels the GEMM driver is built on, one per CPU path.
// A micro-kernel multiplies a packed MR x kc panel of A by a packed kc x NR panel of B and writes the
// MR x NR tile of C through the epilogue: C = alpha * acc + beta * C + bias (beta == 0: C not read).
// Only the top-left rows x cols of the tile are written (edge tiles).
#pragma once

#include <xmmintrin.h>

#include <cstdint>

namespace peftjs {

struct TileEpilogue {
  float alpha;
  float beta;
  const float* bias;  // NR values for this tile's columns, or null
};

using MicroKernel = void (*)(int64_t kc, const float* a_panel, const float* b_panel, float* c, int64_t ldc,
                             const TileEpilogue& ep, int rows, int cols);

// Packs `rows` rows of a row-major matrix (row r at src + r * ld, kc values each) into a kc x w panel:
// dst[p * w + r] = src[r * ld + p], rows..w-1 zero. This is the transposing pack: A panels when A is not
// transposed, B panels when B is (stored [n, k]). May write up to 8 floats past dst + kc * w when
// w < 8 (the caller leaves that slack); reads nothing outside the given rows.
using PackRows = void (*)(const float* src, int64_t ld, int rows, int64_t kc, int w, float* dst);

struct MicroKernelSpec {
  int mr, nr;          // register tile
  int64_t kc, mc, nc;  // cache blocks: kc deep, mc rows of A, nc columns of B
  MicroKernel kernel;
  const char* name;
  PackRows pack_rows;  // the transposing pack, vectorized for this path
};

const MicroKernelSpec& microkernel_scalar();
const MicroKernelSpec& microkernel_avx2();
const MicroKernelSpec& microkernel_avx512();

void pack_rows_scalar(const float* src, int64_t ld, int rows, int64_t kc, int w, float* dst);
void pack_rows_avx2(const float* src, int64_t ld, int rows, int64_t kc, int w, float* dst);

// Per-thread pack buffers that grow and are kept (slot 0..kGemmBufferSlots-1, 64-byte aligned): tasks run
// on pool threads, and allocating (and page-faulting) a fresh block for every task would cost more than
// packing it. The float32 driver uses slots 0 and 1, the bfloat16 one 2, 3 and 4.
constexpr int kGemmBufferSlots = 5;
float* gemm_thread_buffer(int slot, int64_t floats);

// C is read or written only after a micro-kernel's k loop; asking for its rows first hides their
// cache-miss latency (prefetch is baseline x86-64: every path's kernel calls this).
inline void prefetch_c_tile(const float* c, int64_t ldc, int rows, int cols) {
  for (int i = 0; i < rows; ++i) {
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + cols - 1), _MM_HINT_T0);
  }
}

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
