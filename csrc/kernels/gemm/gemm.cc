// GEMM driver in the BLIS style on top of the micro-kernel of the active CPU path. Two schedules:
//  - blocked (enough rows for every thread): per kc x nc block, B is packed once into NR-wide panels
//    shared by all threads, then the rows are cut into equal blocks of MR-row panels, as many as keeps
//    every thread equally busy; each task packs its own A block (L2) and sweeps the B panels (L1) over it.
//  - narrow (few rows, e.g. a batch of 1..64 tokens): the columns are split between tasks instead, and
//    each task packs one kc x NR panel of B right before using it, so a big B is read once and never
//    written back, and every thread works even when there is a single row block.
// The two K segments are walked one after the other; a short second one (LoRA's rank) is packed as a
// tail of the first's last kc block, a long one gets blocks of its own. Skinny shapes (n <= 8) never
// reach the driver (gemm_skinny.h). The epilogue beyond alpha/beta/bias (pre-output, column scale,
// activation) runs on each tile right after its last block, while the tile is still in L1.
#include "gemm.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "../../runtime/allocator.h"
#include "../../runtime/scratch.h"
#include "../../runtime/thread_pool.h"
#include "gemm_microkernel.h"
#include "gemm_skinny.h"
#include "../simd/dispatch.h"

namespace peftjs {
namespace {

const MicroKernelSpec& active_microkernel() {
  return for_cpu_path(microkernel_scalar, microkernel_avx2, microkernel_avx512)();
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

// The longest second K segment packed as a tail of the first's last block (see Block).
constexpr int64_t kTailMax = 96;

// Packing may store up to 8 floats past a panel (see PackRows); every pack buffer carries this slack.
constexpr int64_t kPackSlack = 16;

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }

// Packs op(B)[pc : pc+kc, j0 : j0+cols] into one kc x NR panel, zero-padding missing columns.
void pack_b_panel(const Segment& s, bool trans_b, const MicroKernelSpec& uk, int64_t pc, int64_t kc, int64_t j0,
                  int cols, float* dst) {
  const int nr = uk.nr;
  if (trans_b) {
    // B stored [n, k]: column j of op(B) is row j of B, contiguous in k.
    uk.pack_rows(s.b + j0 * s.ldb + pc, s.ldb, cols, kc, nr, dst);
    return;
  }
  const float* src = s.b + pc * s.ldb + j0;
  for (int64_t p = 0; p < kc; ++p) {
    float* d = dst + p * nr;
    std::memcpy(d, src + p * s.ldb, cols * sizeof(float));
    for (int j = cols; j < nr; ++j) d[j] = 0.0f;
  }
}

// Packs op(A)[i0 : i0+rows, pc : pc+kc] (times the segment's scale) into one kc x MR panel.
void pack_a_panel(const Segment& s, bool trans_a, const MicroKernelSpec& uk, int64_t i0, int rows, int64_t pc,
                  int64_t kc, float* dst) {
  const int mr = uk.mr;
  const float scale = s.a_scale;
  if (!trans_a) {
    uk.pack_rows(s.a + i0 * s.lda + pc, s.lda, rows, kc, mr, dst);
    if (scale != 1.0f)
      for (int64_t q = 0; q < kc * mr; ++q) dst[q] *= scale;
    return;
  }
  // A stored [k, m]: for a fixed k the MR values are contiguous.
  for (int64_t p = 0; p < kc; ++p) {
    const float* src = s.a + (pc + p) * s.lda + i0;
    float* d = dst + p * mr;
    for (int i = 0; i < rows; ++i) d[i] = scale * src[i];
    for (int i = rows; i < mr; ++i) d[i] = 0.0f;
  }
}

// The kc blocks over both segments, in order; the first carries beta and the bias, the last the
// post-epilogue. A short second segment (LoRA's rank r) rides at the end of the first segment's last
// block as a tail of the same packed panels, so it costs no extra pass over C.
struct Block {
  const Segment* seg;
  int64_t pc, kc;
  const Segment* tail = nullptr;  // whole second segment appended after this block's kc, or null
  int64_t depth() const { return kc + (tail ? tail->k : 0); }
};

// Packs one block's op(B) panel: the block's own k range, then the tail's right after it in k, so the
// micro-kernel sees a single depth. (The first pack may spill past its part; the second overwrites it.)
void pack_b_block_panel(const Block& blk, bool trans_b, const MicroKernelSpec& uk, int64_t j0, int cols, float* dst) {
  pack_b_panel(*blk.seg, trans_b, uk, blk.pc, blk.kc, j0, cols, dst);
  if (blk.tail) pack_b_panel(*blk.tail, trans_b, uk, 0, blk.tail->k, j0, cols, dst + blk.kc * uk.nr);
}

// Packs the A rows [i0, i0+rows) for one block (with its tail) as consecutive MR-row panels.
void pack_a_block(const Block& blk, bool trans_a, const MicroKernelSpec& uk, int64_t i0, int64_t rows, float* dst) {
  const int64_t depth = blk.depth();
  for (int64_t i = 0; i < rows; i += uk.mr) {
    const int r = static_cast<int>(std::min<int64_t>(uk.mr, rows - i));
    float* panel = dst + i * depth;
    pack_a_panel(*blk.seg, trans_a, uk, i0 + i, r, blk.pc, blk.kc, panel);
    if (blk.tail) pack_a_panel(*blk.tail, trans_a, uk, i0 + i, r, 0, blk.tail->k, panel + blk.kc * uk.mr);
  }
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

struct Plan {
  const GemmArgs& g;
  const MicroKernelSpec& uk;
  std::vector<Block> blocks;
  int64_t kc_max;  // the deepest block, tail included: the pack buffers are sized by it
  bool post;

  TileEpilogue epilogue(size_t bi, int64_t j) const {
    const bool first = bi == 0;
    return TileEpilogue{g.alpha, first ? g.beta : 1.0f, first && g.bias ? g.bias + j : nullptr};
  }

  // Runs the micro-kernel over C rows [i0, i1) (A packed from row i0) against the B panel at column j.
  void sweep_rows(size_t bi, const float* a_block, int64_t i0, int64_t i1, const float* b_panel, int64_t j) const {
    const TileEpilogue ep = epilogue(bi, j);
    const int cols = static_cast<int>(std::min<int64_t>(uk.nr, g.n - j));
    const bool last = bi + 1 == blocks.size();
    const int64_t kc = blocks[bi].depth();
    for (int64_t i = i0; i < i1; i += uk.mr) {
      const int rows = static_cast<int>(std::min<int64_t>(uk.mr, i1 - i));
      uk.kernel(kc, a_block + (i - i0) * kc, b_panel, g.c + i * g.ldc + j, g.ldc, ep, rows, cols);
      if (last && post) post_epilogue(g, i, j, rows, cols);
    }
  }
};

void gemm_blocked(const Plan& plan, int threads) {
  const GemmArgs& g = plan.g;
  const MicroKernelSpec& uk = plan.uk;
  const int mr = uk.mr, nr = uk.nr;
  // Equal column blocks of at most uk.nc; row blocks of at most about uk.mc, in a multiple of `threads`
  // and within one MR panel of each other, so that no thread waits on another's extra block.
  const int64_t nc_max = round_up(ceil_div(g.n, ceil_div(g.n, uk.nc)), nr);
  const int64_t m_panels = ceil_div(g.m, mr);
  const int64_t m_blocks = std::min(m_panels, round_up(ceil_div(g.m, uk.mc), threads));
  const int64_t mc_max = ceil_div(m_panels, m_blocks) * mr;
  const int64_t kc_max = plan.kc_max;

  Scratch packed_b(static_cast<size_t>(kc_max * nc_max + kPackSlack));
  for (int64_t jc = 0; jc < g.n; jc += nc_max) {
    const int64_t nc = std::min(nc_max, g.n - jc);
    const int64_t n_panels = ceil_div(nc, nr);
    for (size_t bi = 0; bi < plan.blocks.size(); ++bi) {
      const Block blk = plan.blocks[bi];
      parallel_for(n_panels, 4, [&](int64_t q0, int64_t q1) {
        for (int64_t q = q0; q < q1; ++q) {
          const int cols = static_cast<int>(std::min<int64_t>(nr, nc - q * nr));
          pack_b_block_panel(blk, g.trans_b, uk, jc + q * nr, cols, packed_b.data() + q * blk.depth() * nr);
        }
      });
      parallel_tasks(m_blocks, [&](int64_t mb) {
        // Block mb holds the MR-row panels [mb * m_panels / m_blocks, (mb + 1) * m_panels / m_blocks).
        const int64_t i0 = mb * m_panels / m_blocks * mr;
        const int64_t i1 = std::min(g.m, (mb + 1) * m_panels / m_blocks * mr);
        float* a_block = gemm_thread_buffer(0, mc_max * kc_max + kPackSlack);
        pack_a_block(blk, g.trans_a, uk, i0, i1 - i0, a_block);
        for (int64_t q = 0; q < n_panels; ++q)
          plan.sweep_rows(bi, a_block, i0, i1, packed_b.data() + q * blk.depth() * nr, jc + q * nr);
      });
    }
  }
}

void gemm_narrow(const Plan& plan, int threads) {
  const GemmArgs& g = plan.g;
  const MicroKernelSpec& uk = plan.uk;
  const int nr = uk.nr;
  const int64_t n_panels = ceil_div(g.n, nr);
  // A few tasks per thread even out a busy core; each re-packs all of A, which is small here.
  const int64_t tasks = threads == 1 ? 1 : std::min<int64_t>(n_panels, 4 * threads);
  const int64_t a_floats = round_up(g.m, uk.mr) * plan.kc_max + kPackSlack;
  parallel_tasks(tasks, [&](int64_t t) {
    const int64_t q0 = t * n_panels / tasks, q1 = (t + 1) * n_panels / tasks;
    float* a_block = gemm_thread_buffer(0, a_floats);
    float* b_panel = gemm_thread_buffer(1, plan.kc_max * nr + kPackSlack);
    for (size_t bi = 0; bi < plan.blocks.size(); ++bi) {
      const Block blk = plan.blocks[bi];
      pack_a_block(blk, g.trans_a, uk, 0, g.m, a_block);
      for (int64_t q = q0; q < q1; ++q) {
        const int64_t j = q * nr;
        pack_b_block_panel(blk, g.trans_b, uk, j, static_cast<int>(std::min<int64_t>(nr, g.n - j)), b_panel);
        plan.sweep_rows(bi, a_block, 0, g.m, b_panel, j);
      }
    }
  });
}

}  // namespace

float* gemm_thread_buffer(int slot, int64_t floats) {
  struct Buf {
    std::unique_ptr<float, void (*)(void*)> ptr{nullptr, std::free};
    int64_t floats = 0;
  };
  thread_local Buf bufs[kGemmBufferSlots];
  Buf& b = bufs[slot];
  if (b.floats < floats) {
    // aligned_alloc wants a size that is a multiple of the alignment.
    b.ptr.reset(static_cast<float*>(std::aligned_alloc(kAlignment, round_up(floats * sizeof(float), kAlignment))));
    if (!b.ptr) std::abort();  // a few hundred KiB: nothing sensible is left to do without it
    b.floats = floats;
  }
  return b.ptr.get();
}

float apply_activation(Activation act, float v) {
  switch (act) {
    case Activation::Relu: return v <= 0.0f ? 0.0f : v;  // NaN stays NaN
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
  const Segment segments[2] = {{g.a, g.lda, g.b, g.ldb, g.k, 1.0f}, {g.a2, g.lda2, g.b2, g.ldb2, g.k2, g.a2_scale}};
  const int n_segments = (g.k2 > 0 && g.a2 != nullptr) ? 2 : 1;
  if (g.k + (n_segments == 2 ? g.k2 : 0) == 0 || g.alpha == 0.0f) {
    scale_c(g);
    return;
  }
  if (gemm_skinny(g)) return;
  const MicroKernelSpec& uk = active_microkernel();
  const int threads = num_threads();
  // A second segment of at most kTailMax rides on the first's last block (a tail), when there is one.
  const bool tail = n_segments == 2 && g.k2 <= kTailMax && g.k > 0;
  // Equal k blocks of at most uk.kc: K = 1000 gives 3 x 334 rather than 384 + 384 + 232.
  const int64_t k_split = std::max(g.k, n_segments == 2 && !tail ? g.k2 : int64_t{0});
  Plan plan{g, uk, {}, ceil_div(k_split, ceil_div(k_split, uk.kc)), has_post_epilogue(g)};
  for (int s = 0; s < n_segments; ++s)
    for (int64_t pc = 0; pc < segments[s].k && !(s == 1 && tail); pc += plan.kc_max)
      plan.blocks.push_back({&segments[s], pc, std::min(plan.kc_max, segments[s].k - pc)});
  if (tail) {
    plan.blocks.back().tail = &segments[1];
    plan.kc_max += g.k2;  // the pack buffers hold the deepest block
  }
  // The narrow schedule when the rows would give some thread fewer than a few MR panels.
  if (ceil_div(g.m, uk.mr) < 4 * threads && g.n > uk.nr)
    gemm_narrow(plan, threads);
  else
    gemm_blocked(plan, threads);
}

}  // namespace peftjs
