// AVX-512 kernel for LoRA's u = x A^T (see lora_project.h).
#include <immintrin.h>

#include <algorithm>
#include <type_traits>

#include "../../runtime/scratch.h"
#include "../../runtime/thread_pool.h"
#include "lora_project.h"
#include "../simd/avx512.h"
#include "../simd/target.h"

PEFTJS_TARGET_BEGIN(PEFTJS_AVX512_ISA)

namespace peftjs {
namespace {

// Vector type per rank: one ymm row for r = 8, one zmm row for r = 16.
template <int R>
using Row = std::conditional_t<R == 8, simd::F32x8, simd::F32x16>;

// Rows [t, t + 8) of u: eight accumulator rows, one A^T row load and eight broadcasts per step of K.
template <int R>
void eight_rows(const float* x, int64_t ldx, const float* at, int64_t k, float* u) {
  using O = Row<R>;
  typename O::T c0 = O::zero(), c1 = O::zero(), c2 = O::zero(), c3 = O::zero();
  typename O::T c4 = O::zero(), c5 = O::zero(), c6 = O::zero(), c7 = O::zero();
  for (int64_t p = 0; p < k; ++p) {
    const typename O::T ap = O::load(at + p * R);
    c0 = O::fma(O::set1(x[p]), ap, c0);
    c1 = O::fma(O::set1(x[ldx + p]), ap, c1);
    c2 = O::fma(O::set1(x[2 * ldx + p]), ap, c2);
    c3 = O::fma(O::set1(x[3 * ldx + p]), ap, c3);
    c4 = O::fma(O::set1(x[4 * ldx + p]), ap, c4);
    c5 = O::fma(O::set1(x[5 * ldx + p]), ap, c5);
    c6 = O::fma(O::set1(x[6 * ldx + p]), ap, c6);
    c7 = O::fma(O::set1(x[7 * ldx + p]), ap, c7);
  }
  O::store(u, c0), O::store(u + R, c1), O::store(u + 2 * R, c2), O::store(u + 3 * R, c3);
  O::store(u + 4 * R, c4), O::store(u + 5 * R, c5), O::store(u + 6 * R, c6), O::store(u + 7 * R, c7);
}

template <int R>
void one_row(const float* x, const float* at, int64_t k, float* u) {
  using O = Row<R>;
  typename O::T c = O::zero();
  for (int64_t p = 0; p < k; ++p) c = O::fma(O::set1(x[p]), O::load(at + p * R), c);
  O::store(u, c);
}

template <int R>
void project(const float* x, int64_t ldx, const float* at, int64_t t0, int64_t t1, int64_t k, float* u) {
  int64_t t = t0;
  for (; t + 8 <= t1; t += 8) eight_rows<R>(x + t * ldx, ldx, at, k, u + t * R);
  for (; t < t1; ++t) one_row<R>(x + t * ldx, at, k, u + t * R);
}

}  // namespace

bool lora_project_supported(int64_t r) { return r == 8 || r == 16; }

void lora_project_avx512(const float* x, int64_t ldx, const float* a, int64_t t, int64_t k, int64_t r, float* u) {
  Scratch at(static_cast<size_t>(std::max<int64_t>(k * r, 1)));
  for (int64_t j = 0; j < r; ++j)
    for (int64_t p = 0; p < k; ++p) at.data()[p * r + j] = a[j * k + p];
  // Tasks of whole eight-row groups, a few per thread so a busy core does not hold the others up.
  const int64_t groups = (t + 7) / 8;
  const int64_t tasks = std::max<int64_t>(1, std::min<int64_t>(groups, 4 * num_threads()));
  parallel_tasks(tasks, [&](int64_t i) {
    const int64_t t0 = std::min(t, i * groups / tasks * 8), t1 = std::min(t, (i + 1) * groups / tasks * 8);
    if (r == 8) project<8>(x, ldx, at.data(), t0, t1, k, u);
    else project<16>(x, ldx, at.data(), t0, t1, k, u);
  });
}

}  // namespace peftjs

PEFTJS_TARGET_END
