#include "copy.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "../../runtime/thread_pool.h"

namespace peftjs {

namespace {

// Walks the rows of a strided view in parallel: for contiguous row o (of the packed layout, `inner` values
// each) it calls row(o, base) with the view's offset of that row's first element. Gathering and scattering
// are the same walk in two directions.
template <typename Row>
void for_each_strided_row(const int64_t* shape, const int64_t* strides, int ndim, Row row) {
  int64_t total = 1;
  for (int d = 0; d < ndim; ++d) total *= shape[d];
  if (total == 0) return;
  if (ndim == 0) {
    row(0, 0);
    return;
  }
  const int64_t inner = shape[ndim - 1];
  const int64_t outer = total / inner;
  parallel_for(outer, std::max<int64_t>(1, (1 << 15) / inner), [&](int64_t o0, int64_t o1) {
    std::vector<int64_t> idx(ndim > 1 ? ndim - 1 : 1, 0);
    int64_t rem = o0;  // position of row o0 in the outer dimensions
    for (int d = ndim - 2; d >= 0; --d) {
      idx[d] = rem % shape[d];
      rem /= shape[d];
    }
    for (int64_t o = o0; o < o1; ++o) {
      int64_t base = 0;
      for (int d = 0; d < ndim - 1; ++d) base += idx[d] * strides[d];
      row(o, base);
      for (int d = ndim - 2; d >= 0; --d) {
        if (++idx[d] < shape[d]) break;
        idx[d] = 0;
      }
    }
  });
}

int64_t inner_of(const int64_t* shape, int ndim) { return ndim == 0 ? 1 : shape[ndim - 1]; }
int64_t inner_stride_of(const int64_t* strides, int ndim) { return ndim == 0 ? 1 : strides[ndim - 1]; }

}  // namespace

void strided_copy(const float* src, float* dst, const int64_t* shape, const int64_t* strides, int ndim) {
  const int64_t inner = inner_of(shape, ndim), step = inner_stride_of(strides, ndim);
  for_each_strided_row(shape, strides, ndim, [&](int64_t o, int64_t base) {
    float* out = dst + o * inner;
    const float* in = src + base;
    if (step == 1) std::memcpy(out, in, inner * sizeof(float));
    else for (int64_t j = 0; j < inner; ++j) out[j] = in[j * step];
  });
}

void strided_scatter(const float* src, float* dst, const int64_t* shape, const int64_t* strides, int ndim) {
  const int64_t inner = inner_of(shape, ndim), step = inner_stride_of(strides, ndim);
  for_each_strided_row(shape, strides, ndim, [&](int64_t o, int64_t base) {
    const float* in = src + o * inner;
    float* out = dst + base;
    if (step == 1) std::memcpy(out, in, inner * sizeof(float));
    else for (int64_t j = 0; j < inner; ++j) out[j * step] = in[j];
  });
}

}  // namespace peftjs
