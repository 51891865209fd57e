#include "lora.h"

#include <algorithm>

#include "../../runtime/scratch.h"
#include "../../runtime/thread_pool.h"
#include "../random/dropout.h"
#include "../gemm/gemm.h"
#include "lora_dy_pass.h"
#include "lora_project.h"
#include "../reduce/partial_sums.h"
#include "../simd/dispatch.h"

namespace peftjs {
namespace {

// Rows of dy a task takes at the least: the per-task partial dB [N, r] and dbias [N] cost a pass to add.
constexpr int64_t kMinDyRows = 4;

// dA = g^T xd as the dy pass's outer-product half (see outer_pass_*): per-task partials of dA^T [K, r],
// summed and transposed into dA [r, K]. At T=2048, K=768, r=16 the packed GEMM ran this m = r shape at
// ~75 GFLOP/s. False (nothing written) where the pass does not apply.
bool da_outer_pass(const float* xd, const float* g, int64_t t, int64_t k, int64_t r, float* da) {
  const DyPassForRank outer_for = for_cpu_path<DyPassForRank>(nullptr, outer_pass_avx2, outer_pass_avx512);
  const DyPassRowsFn outer = outer_for ? outer_for(r) : nullptr;
  if (outer == nullptr) return false;
  Scratch dat(static_cast<size_t>(std::max<int64_t>(k * r, 1)));
  sum_row_partials<1>(t, kMinDyRows, {{{dat.data(), k * r}}}, [&](int64_t t0, int64_t t1, float* const* part) {
    outer(xd, nullptr, g, t0, t1, k, r, nullptr, part[0], nullptr);
  });
  parallel_for(k, 64, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c)
      for (int64_t j = 0; j < r; ++j) da[j * k + c] = dat.data()[c * r + j];
  });
  return true;
}

}  // namespace

void lora_dy_pass(const float* dy, const float* b, const float* u, int64_t t, int64_t n, int64_t r, float scale,
                  float* g, float* db, float* dbias) {
  const DyPassRowsFn pass = for_cpu_path(dy_pass_scalar, dy_pass_avx2, dy_pass_avx512)(r);
  sum_row_partials<2>(t, kMinDyRows, {{{db, n * r}, {dbias, n}}}, [&](int64_t t0, int64_t t1, float* const* part) {
    pass(dy, b, u, t0, t1, n, r, g, part[0], part[1]);
  });
  parallel_for(n * r, 1 << 15, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) db[i] *= scale;
  });
  parallel_for(t * r, 1 << 15, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) g[i] *= scale;
  });
}

void lora_forward(const LoraForwardArgs& p) {
  if (p.t == 0 || p.n == 0) return;
  // u = drop(x) A^T
  const float* xd = p.x;
  Scratch dropped(p.dropout > 0.0f ? static_cast<size_t>(p.t * p.k) : 1);
  if (p.dropout > 0.0f) {
    dropout_rows(p.x, dropped.data(), p.t, p.k, p.dropout, p.seed, p.row_offset);
    xd = dropped.data();
  }
  if (cpu_path_has(CpuPath::Avx512) && lora_project_supported(p.r)) {
    lora_project_avx512(xd, p.k, p.a, p.t, p.k, p.r, p.u);
  } else {
    GemmArgs g;
    g.trans_b = true;
    g.m = p.t, g.n = p.r, g.k = p.k;
    g.a = xd, g.lda = p.k, g.b = p.a, g.ldb = p.k, g.c = p.u, g.ldc = p.r;
    gemm(g);
  }
  // y = [x | s u] [W | B]^T + bias: the adapter's term is a second K segment of the base GEMM, so y is
  // written once. Without W (y already holds the base output), only that segment runs, onto y.
  GemmArgs y;
  y.trans_b = true;
  y.m = p.t, y.n = p.n, y.c = p.y, y.ldc = p.n;
  y.k2 = p.r, y.a2 = p.u, y.lda2 = p.r, y.b2 = p.b, y.ldb2 = p.r, y.a2_scale = p.scale;
  if (p.w != nullptr) {
    y.k = p.k, y.a = p.x, y.lda = p.k, y.b = p.w, y.ldb = p.k, y.bias = p.bias;
  } else {
    y.beta = 1.0f;
  }
  gemm(y);
}

void lora_backward(const LoraBackwardArgs& p) {
  Scratch g(static_cast<size_t>(std::max<int64_t>(p.t * p.r, 1)));
  lora_dy_pass(p.dy, p.b, p.u, p.t, p.n, p.r, p.scale, g.data(), p.db, p.dbias);

  const bool dropout = p.dropout > 0.0f;
  Scratch dropped(dropout ? static_cast<size_t>(p.t * p.k) : 1);
  const float* xd = p.x;
  if (dropout) {
    dropout_rows(p.x, dropped.data(), p.t, p.k, p.dropout, p.seed, p.row_offset);
    xd = dropped.data();
  }
  // dA = g^T drop(x): g is [T, r], so op(A) = g^T with trans_a.
  if (!da_outer_pass(xd, g.data(), p.t, p.k, p.r, p.da)) {
    GemmArgs da;
    da.trans_a = true;
    da.m = p.r, da.n = p.k, da.k = p.t;
    da.a = g.data(), da.lda = p.r, da.b = xd, da.ldb = p.k, da.c = p.da, da.ldc = p.k;
    gemm(da);
  }

  if (p.dx == nullptr) return;
  // dx = [dy | g] [W ; A] in one GEMM (or, without W, g A added onto dx). With dropout the g A term is
  // masked, so it goes through drop(x)'s buffer and a masked accumulate instead.
  GemmArgs dx;
  dx.m = p.t, dx.n = p.k, dx.c = p.dx, dx.ldc = p.k;
  if (p.w != nullptr) dx.k = p.n, dx.a = p.dy, dx.lda = p.n, dx.b = p.w, dx.ldb = p.k;
  else dx.beta = 1.0f;
  if (!dropout) {
    dx.k2 = p.r, dx.a2 = g.data(), dx.lda2 = p.r, dx.b2 = p.a, dx.ldb2 = p.k;
    gemm(dx);
    return;
  }
  if (p.w != nullptr) gemm(dx);
  GemmArgs ga;  // g A into drop(x)'s buffer, which is no longer needed
  ga.m = p.t, ga.n = p.k, ga.k = p.r;
  ga.a = g.data(), ga.lda = p.r, ga.b = p.a, ga.ldb = p.k, ga.c = dropped.data(), ga.ldc = p.k;
  gemm(ga);
  dropout_accumulate(dropped.data(), p.dx, p.t, p.k, p.dropout, p.seed, p.row_offset);
}

}  // namespace peftjs
