// GEMM driver in the BLIS style: B is packed into kc x NR panels shared by all threads, each task packs
// its own MR x kc panels of A, and the micro-kernel of the active CPU path computes the tiles. The two
// K segments are walked one after the other (a kc block never straddles them); the epilogue beyond
// alpha/beta/bias (pre-output, column scale, activation) runs on each tile right after its last block,
// while the tile is still in L1.
#include "gemm.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "../runtime/allocator.h"
#include "../runtime/cpu_features.h"
#include "../runtime/scratch.h"
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

// One K segment: the operands and how to read op(A)[i, p] and op(B)[p, j].
struct Segment {
  const float* a;
  int64_t lda;
  const float* b;
  int64_t ldb;
  int64_t k;
  float a_scale;
};

// Packs op(B)[pc : pc+kc, j0 : j0+cols] into one kc x NR panel, zero-padding missing columns.
void pack_b_panel(const Segment& s, bool trans_b, int nr, int64_t pc, int64_t kc, int64_t j0, int64_t cols, float* dst) {
  if (!trans_b) {
    const float* src = s.b + pc * s.ldb + j0;
    for (int64_t p = 0; p < kc; ++p) {
      const float* row = src + p * s.ldb;
      float* d = dst + p * nr;
      std::memcpy(d, row, cols * sizeof(float));
      for (int64_t j = cols; j < nr; ++j) d[j] = 0.0f;
    }
    return;
  }
  // B stored [n, k]: column j of op(B) is row j of B. Four rows at a time keeps four read streams.
  int64_t j = 0;
  for (; j + 4 <= cols; j += 4) {
    const float* s0 = s.b + (j0 + j) * s.ldb + pc;
    const float* s1 = s0 + s.ldb;
    const float* s2 = s1 + s.ldb;
    const float* s3 = s2 + s.ldb;
    float* d = dst + j;
    for (int64_t p = 0; p < kc; ++p, d += nr) {
      d[0] = s0[p];
      d[1] = s1[p];
      d[2] = s2[p];
      d[3] = s3[p];
    }
  }
  for (; j < cols; ++j) {
    const float* src = s.b + (j0 + j) * s.ldb + pc;
    for (int64_t p = 0; p < kc; ++p) dst[p * nr + j] = src[p];
  }
  for (j = cols; j < nr; ++j)
    for (int64_t p = 0; p < kc; ++p) dst[p * nr + j] = 0.0f;
}

// Packs op(A)[i0 : i0+rows, pc : pc+kc] (times the segment's scale) into one kc x MR panel.
void pack_a_panel(const Segment& s, bool trans_a, int mr, int64_t i0, int64_t rows, int64_t pc, int64_t kc, float* dst) {
  const float scale = s.a_scale;
  if (!trans_a) {
    // Read the rows side by side and write the panel in order: one sequential write stream.
    const float* src[32];
    for (int64_t i = 0; i < rows; ++i) src[i] = s.a + (i0 + i) * s.lda + pc;
    if (rows == mr && scale == 1.0f) {
      for (int64_t p = 0; p < kc; ++p, dst += mr)
        for (int i = 0; i < mr; ++i) dst[i] = src[i][p];
      return;
    }
    for (int64_t p = 0; p < kc; ++p) {
      float* d = dst + p * mr;
      for (int64_t i = 0; i < rows; ++i) d[i] = scale * src[i][p];
    }
  } else {
    // A stored [k, m]: for a fixed k the MR values are contiguous.
    for (int64_t p = 0; p < kc; ++p) {
      const float* src = s.a + (pc + p) * s.lda + i0;
      float* d = dst + p * mr;
      if (scale == 1.0f) std::memcpy(d, src, rows * sizeof(float));
      else
        for (int64_t i = 0; i < rows; ++i) d[i] = scale * src[i];
    }
  }
  if (rows < mr)
    for (int64_t p = 0; p < kc; ++p)
      for (int64_t i = rows; i < mr; ++i) dst[p * mr + i] = 0.0f;
}

bool has_post_epilogue(const GemmArgs& g) { return g.col_scale != nullptr || g.act != Activation::None || g.pre_out != nullptr; }

// pre_out = v; v = act(v * col_scale) over a rows x cols block of C at (i0, j0).
void post_epilogue(const GemmArgs& g, int64_t i0, int64_t j0, int64_t rows, int64_t cols) {
  for (int64_t i = 0; i < rows; ++i) {
    float* c = g.c + (i0 + i) * g.ldc + j0;
    if (g.pre_out != nullptr) std::memcpy(g.pre_out + (i0 + i) * g.ld_pre + j0, c, cols * sizeof(float));
    if (g.col_scale != nullptr) {
      const float* s = g.col_scale + j0;
      for (int64_t j = 0; j < cols; ++j) c[j] *= s[j];
    }
    if (g.act != Activation::None)
      for (int64_t j = 0; j < cols; ++j) c[j] = apply_activation(g.act, c[j]);
  }
}

// C = beta * C + bias (and the post-epilogue): the whole result when there is nothing to multiply.
void scale_c(const GemmArgs& g) {
  parallel_for(g.m, std::max<int64_t>(1, 16384 / std::max<int64_t>(g.n, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t i = r0; i < r1; ++i) {
      float* row = g.c + i * g.ldc;
      for (int64_t j = 0; j < g.n; ++j) {
        const float prior = g.beta == 0.0f ? 0.0f : g.beta * row[j];
        row[j] = prior + (g.bias ? g.bias[j] : 0.0f);
      }
    }
    if (has_post_epilogue(g)) post_epilogue(g, r0, 0, r1 - r0, g.n);
  });
}

}  // namespace

float apply_activation(Activation act, float v) {
  switch (act) {
    case Activation::Relu: return v > 0.0f ? v : 0.0f;
    case Activation::Gelu: return 0.5f * v * (1.0f + std::erf(v * 0.70710678118654752f));
    case Activation::GeluTanh: {
      const float inner = 0.79788456080286536f * (v + 0.044715f * v * v * v);
      return 0.5f * v * (1.0f + std::tanh(inner));
    }
    case Activation::Silu: return v / (1.0f + std::exp(-v));
    default: return v;
  }
}

void gemm(const GemmArgs& g) {
  if (g.m == 0 || g.n == 0) return;
  Segment segments[2] = {{g.a, g.lda, g.b, g.ldb, g.k, 1.0f}, {g.a2, g.lda2, g.b2, g.ldb2, g.k2, g.a2_scale}};
  const int n_segments = (g.k2 > 0 && g.a2 != nullptr) ? 2 : 1;
  if (g.k + (n_segments == 2 ? g.k2 : 0) == 0 || g.alpha == 0.0f) {
    scale_c(g);
    return;
  }
  const MicroKernelSpec& uk = active_microkernel();
  const int mr = uk.mr, nr = uk.nr;
  const int64_t k_total = std::max(g.k, n_segments == 2 ? g.k2 : int64_t{0});
  const int64_t kc_max = std::min(uk.kc, k_total);
  const int64_t nc_max = std::min<int64_t>(uk.nc, (g.n + nr - 1) / nr * nr);
  const int64_t mc_max = uk.mc;  // a multiple of mr
  const int threads = num_threads();
  const bool post = has_post_epilogue(g);

  Scratch packed_b(static_cast<size_t>(kc_max) * nc_max);
  const int64_t a_block_floats = mc_max * kc_max;

  // The kc blocks over both segments, in order; the first carries beta and the bias, the last the post-epilogue.
  struct Block {
    int seg;
    int64_t pc, kc;
  };
  int64_t n_blocks = 0;
  for (int s = 0; s < n_segments; ++s) n_blocks += (segments[s].k + kc_max - 1) / kc_max;
  std::unique_ptr<Block[]> blocks(new Block[n_blocks]);
  for (int s = 0, q = 0; s < n_segments; ++s)
    for (int64_t pc = 0; pc < segments[s].k; pc += kc_max) blocks[q++] = {s, pc, std::min(kc_max, segments[s].k - pc)};

  for (int64_t jc = 0; jc < g.n; jc += nc_max) {
    const int64_t nc = std::min(nc_max, g.n - jc);
    const int64_t n_panels = (nc + nr - 1) / nr;
    for (int64_t bi = 0; bi < n_blocks; ++bi) {
      const Block blk = blocks[bi];
      const Segment& seg = segments[blk.seg];
      const int64_t pc = blk.pc, kc = blk.kc;
      parallel_for(n_panels, 4, [&](int64_t p0, int64_t p1) {
        for (int64_t q = p0; q < p1; ++q) {
          const int64_t cols = std::min<int64_t>(nr, nc - q * nr);
          pack_b_panel(seg, g.trans_b, nr, pc, kc, jc + q * nr, cols, packed_b.data() + q * kc * nr);
        }
      });
      const bool first = bi == 0, last = bi == n_blocks - 1;
      const TileEpilogue base_ep{g.alpha, first ? g.beta : 1.0f, nullptr};

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
          // aligned_alloc wants a size that is a multiple of the alignment.
          const size_t bytes = (a_block_floats * sizeof(float) + kAlignment - 1) / kAlignment * kAlignment;
          a_buf.reset(static_cast<float*>(std::aligned_alloc(kAlignment, bytes)));
          if (!a_buf) std::abort();  // a few hundred KiB: nothing sensible is left to do without it
          a_buf_floats = a_block_floats;
        }
        const int64_t mb = task / n_splits, ns = task % n_splits;
        const int64_t ic = mb * mc_max;
        const int64_t mc = std::min(mc_max, g.m - ic);
        const int64_t q0 = ns * panels_per_split, q1 = std::min(n_panels, q0 + panels_per_split);
        float* a_packed = a_buf.get();
        for (int64_t i = 0; i < mc; i += mr)
          pack_a_panel(seg, g.trans_a, mr, ic + i, std::min<int64_t>(mr, mc - i), pc, kc, a_packed + i * kc);
        for (int64_t q = q0; q < q1; ++q) {
          const int64_t j = jc + q * nr;
          const int cols = static_cast<int>(std::min<int64_t>(nr, g.n - j));
          TileEpilogue ep = base_ep;
          if (first && g.bias) ep.bias = g.bias + j;
          const float* b_panel = packed_b.data() + q * kc * nr;
          for (int64_t i = 0; i < mc; i += mr) {
            const int rows = static_cast<int>(std::min<int64_t>(mr, mc - i));
            uk.kernel(kc, a_packed + i * kc, b_panel, g.c + (ic + i) * g.ldc + j, g.ldc, ep, rows, cols);
            if (last && post) post_epilogue(g, ic + i, j, rows, cols);
          }
        }
      });
    }
  }
}

}  // namespace peftjs
