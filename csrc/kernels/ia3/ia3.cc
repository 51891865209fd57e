#include "ia3.h"

#include <algorithm>

#include "../../runtime/scratch.h"
#include "../../runtime/thread_pool.h"
#include "../reduce/column_ops.h"
#include "../gemm/gemm.h"

namespace peftjs {
namespace {

// out[n, k] = W[n, k] * l[k] (input scaling folded into W) or W[n, k] * l[n] (output scaling, for dx).
void scale_weight(const float* w, const float* l, int64_t n, int64_t k, bool by_row, float* out) {
  if (!by_row) {
    scale_columns(w, l, n, k, out);
    return;
  }
  parallel_for(n, std::max<int64_t>(1, (1 << 14) / std::max<int64_t>(k, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t c = 0; c < k; ++c) out[r * k + c] = w[r * k + c] * l[r];
  });
}

GemmArgs linear_args(const float* x, const float* w, int64_t t, int64_t n, int64_t k, float* y, const float* bias) {
  GemmArgs g;
  g.trans_b = true;
  g.m = t, g.n = n, g.k = k;
  g.a = x, g.lda = k, g.b = w, g.ldb = k, g.c = y, g.ldc = n, g.bias = bias;
  return g;
}

}  // namespace

void ia3_forward(const Ia3Args& p, float* y, float* y_pre) {
  if (p.mode == Ia3Mode::Output) {
    // The scaling is the GEMM's epilogue: y_pre and y are written in the same pass.
    GemmArgs g = linear_args(p.x, p.w, p.t, p.n, p.k, y, p.bias);
    g.col_scale = p.l;
    g.pre_out = y_pre, g.ld_pre = p.n;
    gemm(g);
    return;
  }
  // Input scaling: (x * l) W^T == x (W diag(l))^T; scale whichever of x [T, K] and W [N, K] is smaller.
  if (p.n <= p.t) {
    Scratch ws(static_cast<size_t>(std::max<int64_t>(p.n * p.k, 1)));
    scale_weight(p.w, p.l, p.n, p.k, false, ws.data());
    gemm(linear_args(p.x, ws.data(), p.t, p.n, p.k, y, p.bias));
  } else {
    Scratch xs(static_cast<size_t>(std::max<int64_t>(p.t * p.k, 1)));
    scale_columns(p.x, p.l, p.t, p.k, xs.data());
    gemm(linear_args(xs.data(), p.w, p.t, p.n, p.k, y, p.bias));
  }
}

void ia3_backward(const Ia3Args& p, const float* dy, const float* y_pre, float* dx, float* dl) {
  GemmArgs back;  // dx = dy' W', dy' [T, N], W' [N, K]
  back.m = p.t, back.n = p.k, back.k = p.n;
  back.lda = p.n, back.ldb = p.k, back.ldc = p.k;
  if (p.mode == Ia3Mode::Output) {
    column_dot(dy, y_pre, p.t, p.n, dl);
    if (dx == nullptr) return;
    // (dy * l) W == dy (diag(l) W): scale the smaller of dy [T, N] and W [N, K].
    if (p.k <= p.t) {
      Scratch ws(static_cast<size_t>(std::max<int64_t>(p.n * p.k, 1)));
      scale_weight(p.w, p.l, p.n, p.k, true, ws.data());
      back.a = dy, back.b = ws.data(), back.c = dx;
      gemm(back);
    } else {
      Scratch ds(static_cast<size_t>(std::max<int64_t>(p.t * p.n, 1)));
      scale_columns(dy, p.l, p.t, p.n, ds.data());
      back.a = ds.data(), back.b = p.w, back.c = dx;
      gemm(back);
    }
    return;
  }
  // Input scaling: h = dy W, then one pass for dl = colsum(h * x) and dx = h * l.
  Scratch h_buf(dx == nullptr ? static_cast<size_t>(std::max<int64_t>(p.t * p.k, 1)) : 1);
  float* h = dx != nullptr ? dx : h_buf.data();
  back.a = dy, back.b = p.w, back.c = h;
  gemm(back);
  column_dot(h, p.x, p.t, p.k, dl);
  if (dx != nullptr) scale_columns(h, p.l, p.t, p.k, dx);
}

}  // namespace peftjs
