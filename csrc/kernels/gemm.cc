// GEMM driver in the BLIS style: B is packed into kc x NR panels shared by all threads, each task packs
// its own MR x kc panels of A, and the micro-kernel of the active CPU path computes the tiles.
#include "gemm.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "../runtime/allocator.h"
#include "../runtime/cpu_features.h"
#include "../runtime/thread_pool.h"
#include "gemm_microkernel.h"

namespace peftjs {
namespace {

const MicroKernelSpec& active_microkernel() {
  switch (active_cpu_path()) {
    case CpuPath::Avx512: return microkernel_avx512();
    case CpuPath::Avx2: return microkernel_avx2();
    default: return microkernel_scalar();
  }
}

// A buffer from the host allocator, returned on scope exit.
class ScratchBuffer {
 public:
  explicit ScratchBuffer(size_t floats) : bytes_(floats * sizeof(float)) {
    ptr_ = static_cast<float*>(host_alloc(bytes_));
    if (ptr_ == nullptr) throw std::bad_alloc();
  }
  ~ScratchBuffer() { host_free(ptr_, bytes_); }
  ScratchBuffer(const ScratchBuffer&) = delete;
  ScratchBuffer& operator=(const ScratchBuffer&) = delete;
  float* data() const { return ptr_; }

 private:
  size_t bytes_;
  float* ptr_;
};

// Packs op(B)[pc : pc+kc, jc + panel*NR ...] into consecutive kc x NR panels, zero-padding the last.
void pack_b_panel(const GemmArgs& g, int nr, int64_t pc, int64_t kc, int64_t j0, int64_t cols, float* dst) {
  if (!g.trans_b) {
    const float* src = g.b + pc * g.ldb + j0;
    for (int64_t p = 0; p < kc; ++p) {
      const float* s = src + p * g.ldb;
      float* d = dst + p * nr;
      std::memcpy(d, s, cols * sizeof(float));
      for (int64_t j = cols; j < nr; ++j) d[j] = 0.0f;
    }
  } else {
    // B stored [n, k]: column j of op(B) is row j of B, contiguous in k.
    for (int64_t j = 0; j < cols; ++j) {
      const float* s = g.b + (j0 + j) * g.ldb + pc;
      for (int64_t p = 0; p < kc; ++p) dst[p * nr + j] = s[p];
    }
    for (int64_t j = cols; j < nr; ++j)
      for (int64_t p = 0; p < kc; ++p) dst[p * nr + j] = 0.0f;
  }
}

// Packs op(A)[i0 : i0+rows, pc : pc+kc] into one kc x MR panel (MR values per k), zero-padding rows.
void pack_a_panel(const GemmArgs& g, int mr, int64_t i0, int64_t rows, int64_t pc, int64_t kc, float* dst) {
  if (!g.trans_a) {
    for (int64_t i = 0; i < rows; ++i) {
      const float* s = g.a + (i0 + i) * g.lda + pc;
      for (int64_t p = 0; p < kc; ++p) dst[p * mr + i] = s[p];
    }
  } else {
    // A stored [k, m]: for a fixed k the MR values are contiguous.
    for (int64_t p = 0; p < kc; ++p) std::memcpy(dst + p * mr, g.a + (pc + p) * g.lda + i0, rows * sizeof(float));
  }
  if (rows < mr)
    for (int64_t p = 0; p < kc; ++p)
      for (int64_t i = rows; i < mr; ++i) dst[p * mr + i] = 0.0f;
}

// C = beta * C + bias: the whole result when k == 0 or alpha == 0.
void scale_c(const GemmArgs& g) {
  parallel_for(g.m, std::max<int64_t>(1, 16384 / std::max<int64_t>(g.n, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t i = r0; i < r1; ++i) {
      float* row = g.c + i * g.ldc;
      for (int64_t j = 0; j < g.n; ++j) {
        const float prior = g.beta == 0.0f ? 0.0f : g.beta * row[j];
        row[j] = prior + (g.bias ? g.bias[j] : 0.0f);
      }
    }
  });
}

}  // namespace

void gemm(const GemmArgs& g) {
  if (g.m == 0 || g.n == 0) return;
  if (g.k == 0 || g.alpha == 0.0f) {
    scale_c(g);
    return;
  }
  const MicroKernelSpec& uk = active_microkernel();
  const int mr = uk.mr, nr = uk.nr;
  const int64_t kc_max = std::min(uk.kc, g.k);
  const int64_t nc_max = std::min<int64_t>(uk.nc, (g.n + nr - 1) / nr * nr);
  const int64_t mc_max = uk.mc;  // a multiple of mr
  const int threads = num_threads();

  ScratchBuffer packed_b(static_cast<size_t>(kc_max) * nc_max);
  // One A block per task slot; tasks index them by their task number modulo the buffers we keep.
  const int64_t a_block_floats = mc_max * kc_max;

  for (int64_t jc = 0; jc < g.n; jc += nc_max) {
    const int64_t nc = std::min(nc_max, g.n - jc);
    const int64_t n_panels = (nc + nr - 1) / nr;
    for (int64_t pc = 0; pc < g.k; pc += kc_max) {
      const int64_t kc = std::min(kc_max, g.k - pc);
      parallel_for(n_panels, 4, [&](int64_t p0, int64_t p1) {
        for (int64_t q = p0; q < p1; ++q) {
          const int64_t cols = std::min<int64_t>(nr, nc - q * nr);
          pack_b_panel(g, nr, pc, kc, jc + q * nr, cols, packed_b.data() + q * kc * nr);
        }
      });
      const bool first_k = pc == 0;
      const TileEpilogue base_ep{g.alpha, first_k ? g.beta : 1.0f, nullptr};

      // Rows of C in mc blocks; when there are too few blocks for the pool, split the columns too.
      const int64_t m_blocks = (g.m + mc_max - 1) / mc_max;
      int64_t n_splits = 1;
      if (m_blocks < 2 * threads) n_splits = std::min<int64_t>(n_panels, (2 * threads + m_blocks - 1) / m_blocks);
      const int64_t panels_per_split = (n_panels + n_splits - 1) / n_splits;
      n_splits = (n_panels + panels_per_split - 1) / panels_per_split;

      parallel_tasks(m_blocks * n_splits, [&](int64_t task) {
        thread_local std::unique_ptr<float, void (*)(void*)> a_buf(nullptr, std::free);
        thread_local int64_t a_buf_floats = 0;
        if (a_buf_floats < a_block_floats) {
          a_buf.reset(static_cast<float*>(std::aligned_alloc(kAlignment, a_block_floats * sizeof(float))));
          if (!a_buf) throw std::bad_alloc();
          a_buf_floats = a_block_floats;
        }
        const int64_t mb = task / n_splits, ns = task % n_splits;
        const int64_t ic = mb * mc_max;
        const int64_t mc = std::min(mc_max, g.m - ic);
        const int64_t q0 = ns * panels_per_split, q1 = std::min(n_panels, q0 + panels_per_split);
        float* a_packed = a_buf.get();
        for (int64_t i = 0; i < mc; i += mr)
          pack_a_panel(g, mr, ic + i, std::min<int64_t>(mr, mc - i), pc, kc, a_packed + i * kc);
        for (int64_t q = q0; q < q1; ++q) {
          const int64_t j = jc + q * nr;
          const int cols = static_cast<int>(std::min<int64_t>(nr, g.n - j));
          TileEpilogue ep = base_ep;
          if (first_k && g.bias) ep.bias = g.bias + j;
          const float* b_panel = packed_b.data() + q * kc * nr;
          for (int64_t i = 0; i < mc; i += mr) {
            const int rows = static_cast<int>(std::min<int64_t>(mr, mc - i));
            uk.kernel(kc, a_packed + i * kc, b_panel, g.c + (ic + i) * g.ldc + j, g.ldc, ep, rows, cols);
          }
        }
      });
    }
  }
}

}  // namespace peftjs
