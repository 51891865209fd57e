// BitFit's backward on the GPU, as csrc/kernels/bitfit: dbias = column sums of dy (cuda::column_sum), and
// dx = dy W through cuda::gemm when the input needs a gradient. dW is never formed.
#include "device_api.h"

namespace peftjs {
namespace cuda {

bool bitfit_backward(const float* dy, const float* w, int64_t t, int64_t k, int64_t n, float* dx, float* dbias,
                     std::string* error) {
  if (!column_sum(dy, dbias, t, n, 0.0f, error)) return false;
  if (dx == nullptr) return true;
  GemmArgs g;
  g.m = t, g.n = k, g.k = n;
  g.a = dy, g.lda = n, g.b = w, g.ldb = k, g.c = dx, g.ldc = k;
  return gemm(g, error);
}

}  // namespace cuda
}  // namespace peftjs
