#include "copy.h"

#include <cstring>
#include <vector>

#include "../runtime/thread_pool.h"

namespace peftjs {

void strided_copy(const float* src, float* dst, const int64_t* shape, const int64_t* strides, int ndim) {
  int64_t total = 1;
  for (int d = 0; d < ndim; ++d) total *= shape[d];
  if (total == 0) return;
  if (ndim == 0) {
    dst[0] = src[0];
    return;
  }
  const int64_t inner = shape[ndim - 1];
  const int64_t inner_stride = strides[ndim - 1];
  const int64_t outer = total / inner;
  parallel_for(outer, std::max<int64_t>(1, (1 << 15) / inner), [&](int64_t o0, int64_t o1) {
    std::vector<int64_t> idx(ndim > 1 ? ndim - 1 : 1, 0);
    // Position of row o0 in the outer dimensions.
    int64_t rem = o0;
    for (int d = ndim - 2; d >= 0; --d) {
      idx[d] = rem % shape[d];
      rem /= shape[d];
    }
    for (int64_t o = o0; o < o1; ++o) {
      int64_t base = 0;
      for (int d = 0; d < ndim - 1; ++d) base += idx[d] * strides[d];
      float* out = dst + o * inner;
      const float* in = src + base;
      if (inner_stride == 1) {
        std::memcpy(out, in, inner * sizeof(float));
      } else {
        for (int64_t j = 0; j < inner; ++j) out[j] = in[j * inner_stride];
      }
      for (int d = ndim - 2; d >= 0; --d) {
        if (++idx[d] < shape[d]) break;
        idx[d] = 0;
      }
    }
  });
}

}  // namespace peftjs
