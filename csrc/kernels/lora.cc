#include "lora.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "../runtime/cpu_features.h"
#include "../runtime/scratch.h"
#include "../runtime/thread_pool.h"
#include "dropout.h"
#include "gemm.h"
#include "lora_dy_pass.h"
#include "lora_project.h"

namespace peftjs {
namespace {

// Rows of dy a task takes: small enough to spread over the pool, large enough that the per-task
// partial dB [N, r] and dbias [N] cost little to reduce.
int64_t dy_rows_per_task(int64_t t) {
  const int threads = num_threads();
  return std::max<int64_t>(4, (t + threads - 1) / threads);
}

void dy_pass_general(const float* dy, const float* b, const float* u, int64_t t0, int64_t t1, int64_t n, int64_t r,
                     float* g, float* db_part, float* dbias_part) {
  for (int64_t t = t0; t < t1; ++t) {
    float* gt = g + t * r;
    std::fill(gt, gt + r, 0.0f);
    for (int64_t c = 0; c < n; ++c) {
      const float a0 = dy[t * n + c];
      for (int64_t j = 0; j < r; ++j) {
        gt[j] += a0 * b[c * r + j];
        db_part[c * r + j] += a0 * u[t * r + j];
      }
      if (dbias_part) dbias_part[c] += a0;
    }
  }
}

using DyPassFn = void (*)(const float*, const float*, const float*, int64_t, int64_t, int64_t, int64_t, float*,
                          float*, float*);

DyPassFn dy_pass_for(int64_t r) {
  if (r > 64) return dy_pass_general;
  switch (active_cpu_path()) {
    case CpuPath::Avx512: return dy_pass_avx512(r);
    case CpuPath::Avx2: return dy_pass_avx2(r);
    default: return dy_pass_scalar(r);
  }
}

// dA = g^T xd as the dy pass's outer-product half (see outer_pass_*): per-task partials of dA^T [K, r],
// summed and transposed into dA [r, K]. At T=2048, K=768, r=16 the packed GEMM ran this m = r shape at
// ~75 GFLOP/s. False (nothing written) where the pass does not apply.
bool da_outer_pass(const float* xd, const float* g, int64_t t, int64_t k, int64_t r, float* da) {
  const CpuPath path = active_cpu_path();
  const DyPassRowsFn outer = path == CpuPath::Avx512 ? outer_pass_avx512(r) : path == CpuPath::Avx2 ? outer_pass_avx2(r) : nullptr;
  if (outer == nullptr) return false;
  const int64_t rows = dy_rows_per_task(t);
  const int64_t tasks = std::max<int64_t>(1, (t + rows - 1) / rows);
  Scratch partial(static_cast<size_t>(tasks * k * r));
  parallel_tasks(tasks, [&](int64_t i) {
    float* part = partial.data() + i * k * r;
    std::fill(part, part + k * r, 0.0f);
    const int64_t t0 = i * rows, t1 = std::min(t, t0 + rows);
    if (t0 < t1) outer(xd, nullptr, g, t0, t1, k, r, nullptr, part, nullptr);
  });
  parallel_for(k, 64, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c)
      for (int64_t j = 0; j < r; ++j) {
        float sum = 0.0f;
        for (int64_t i = 0; i < tasks; ++i) sum += partial.data()[i * k * r + c * r + j];
        da[j * k + c] = sum;
      }
  });
  return true;
}

}  // namespace

void lora_dy_pass(const float* dy, const float* b, const float* u, int64_t t, int64_t n, int64_t r, float scale,
                  float* g, float* db, float* dbias) {
  const int64_t rows = dy_rows_per_task(t);
  const int64_t tasks = std::max<int64_t>(1, (t + rows - 1) / rows);
  // Partial sums per task: task 0 writes straight into db/dbias, the others into scratch.
  Scratch partial(static_cast<size_t>(std::max<int64_t>(tasks - 1, 1)) * (n * r + n));
  auto db_of = [&](int64_t i) { return i == 0 ? db : partial.data() + (i - 1) * (n * r + n); };
  auto dbias_of = [&](int64_t i) { return dbias == nullptr ? nullptr : i == 0 ? dbias : db_of(i) + n * r; };
  const DyPassFn pass = dy_pass_for(r);
  parallel_tasks(tasks, [&](int64_t i) {
    float* dbp = db_of(i);
    float* dbiasp = dbias_of(i);
    std::fill(dbp, dbp + n * r, 0.0f);
    if (dbiasp) std::fill(dbiasp, dbiasp + n, 0.0f);
    const int64_t t0 = i * rows, t1 = std::min(t, t0 + rows);
    if (t0 < t1) pass(dy, b, u, t0, t1, n, r, g, dbp, dbiasp);
  });
  // Reduce the partials and apply s, split over columns.
  parallel_for(n, 256, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      for (int64_t i = 1; i < tasks; ++i) {
        const float* p = db_of(i) + c * r;
        for (int64_t j = 0; j < r; ++j) db[c * r + j] += p[j];
        if (dbias) dbias[c] += dbias_of(i)[c];
      }
      for (int64_t j = 0; j < r; ++j) db[c * r + j] *= scale;
    }
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
  if (active_cpu_path() == CpuPath::Avx512 && lora_project_supported(p.r)) {
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
