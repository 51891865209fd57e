#include "elementwise.h"

#include <algorithm>
#include <cmath>

#include "../../runtime/thread_pool.h"
#include "activations.h"
#include "../simd/dispatch.h"

namespace peftjs {
namespace {

constexpr int64_t kGrain = 1 << 15;  // below ~32K elements a second thread costs more than it saves

template <typename F>
void binary_loop(const float* a, const float* b, float* out, int64_t n, int64_t b_len, F f) {
  if (b_len == n) {
    parallel_for(n, kGrain, [&](int64_t s, int64_t e) {
      for (int64_t i = s; i < e; ++i) out[i] = f(a[i], b[i]);
    });
    return;
  }
  const int64_t rows = n / b_len;
  parallel_for(rows, std::max<int64_t>(1, kGrain / b_len), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* ar = a + r * b_len;
      float* orow = out + r * b_len;
      for (int64_t j = 0; j < b_len; ++j) orow[j] = f(ar[j], b[j]);
    }
  });
}

template <typename F>
void unary_loop(const float* a, float* out, int64_t n, F f) {
  parallel_for(n, kGrain, [&](int64_t s, int64_t e) {
    for (int64_t i = s; i < e; ++i) out[i] = f(a[i]);
  });
}

}  // namespace

void binary(BinaryOp op, const float* a, const float* b, float* out, int64_t n, int64_t b_len) {
  if (n == 0) return;
  switch (op) {
    case BinaryOp::Add: return binary_loop(a, b, out, n, b_len, [](float x, float y) { return x + y; });
    case BinaryOp::Sub: return binary_loop(a, b, out, n, b_len, [](float x, float y) { return x - y; });
    case BinaryOp::Mul: return binary_loop(a, b, out, n, b_len, [](float x, float y) { return x * y; });
    case BinaryOp::Div: return binary_loop(a, b, out, n, b_len, [](float x, float y) { return x / y; });
  }
}

void scale(const float* a, float* out, int64_t n, float alpha, float beta) {
  unary_loop(a, out, n, [=](float x) { return alpha * x + beta; });
}

void unary(UnaryOp op, const float* a, float* out, int64_t n) {
  if (cpu_path_has(CpuPath::Avx2) && has_activation_avx2(op)) {
    parallel_for(n, kGrain, [&](int64_t s, int64_t e) { activation_avx2(op, a + s, out + s, e - s); });
    return;
  }
  // The portable path: the table's f (unary_ops.h) one element at a time.
  with_unary_op(op, [&](auto tag) { unary_loop(a, out, n, [](float x) { return UnaryMath<decltype(tag)::value>::f(x); }); });
}

void fill(float* out, int64_t n, float value) {
  parallel_for(n, kGrain * 4, [&](int64_t s, int64_t e) { std::fill(out + s, out + e, value); });
}

}  // namespace peftjs
