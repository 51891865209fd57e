#include "bitfit.h"

#include "../reduce/column_ops.h"
#include "../gemm/gemm.h"

namespace peftjs {

void bitfit_backward(const float* dy, const float* w, int64_t t, int64_t k, int64_t n, float* dx, float* dbias) {
  column_sums(dy, t, n, dbias);
  if (dx == nullptr) return;
  GemmArgs g;
  g.m = t, g.n = k, g.k = n;
  g.a = dy, g.lda = n, g.b = w, g.ldb = k, g.c = dx, g.ldc = k;
  gemm(g);
}

}  // namespace peftjs
