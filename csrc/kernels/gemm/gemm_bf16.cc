// gemm_bf16's entry: the AVX512_BF16 build where the CPU has it, else the float32 GEMM on operands rounded
// to bfloat16 (the same products; only the summation order differs), a chunk of B's columns at a time so
// that no float32 copy of a whole bf16 weight is made.
#include "gemm_bf16.h"

#include <algorithm>

#include "../../runtime/cpu_features.h"
#include "../../runtime/scratch.h"
#include "../../runtime/thread_pool.h"
#include "gemm.h"

namespace peftjs {
namespace {

// The most float32 values one widened chunk of B holds (4 MiB).
constexpr int64_t kChunkFloats = int64_t{1} << 20;

float round_bf16(float v) { return bf16_bits_to_f32(f32_to_bf16_bits(v)); }

// op(B)[p, j] rounded to bfloat16.
float b_value(const GemmBf16Args& g, int64_t p, int64_t j) {
  const int64_t at = g.trans_b ? j * g.ldb + p : p * g.ldb + j;
  return g.b_bits != nullptr ? bf16_bits_to_f32(bf16_bits_at(g.b_bits, at)) : round_bf16(g.b[at]);
}

void gemm_bf16_portable(const GemmBf16Args& g) {
  Scratch a(static_cast<size_t>(g.m * g.k));
  parallel_for(g.m, 1, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i)
      for (int64_t p = 0; p < g.k; ++p) a.data()[i * g.k + p] = round_bf16(g.a[i * g.lda + p]);
  });
  const int64_t chunk = std::max<int64_t>(1, std::min(g.n, kChunkFloats / g.k));
  Scratch b(static_cast<size_t>(chunk * g.k));
  for (int64_t j0 = 0; j0 < g.n; j0 += chunk) {
    const int64_t cols = std::min(chunk, g.n - j0);
    // The chunk as B^T [cols, k]: the float32 GEMM's trans_b form.
    parallel_for(cols, 1, [&](int64_t c0, int64_t c1) {
      for (int64_t j = c0; j < c1; ++j) {
        float* row = b.data() + j * g.k;
        if (g.b_quant != nullptr) {  // trans_b, ldb == k: row j0 + j of the weight, dequantized whole
          dequantize(*g.b_quant, (j0 + j) * g.ldb, (j0 + j) * g.ldb + g.k, row);
          for (int64_t p = 0; p < g.k; ++p) row[p] = round_bf16(row[p]);
        } else {
          for (int64_t p = 0; p < g.k; ++p) row[p] = b_value(g, p, j0 + j);
        }
      }
    });
    GemmArgs f;
    f.trans_b = true;
    f.m = g.m, f.n = cols, f.k = g.k, f.alpha = g.alpha;
    f.a = a.data(), f.lda = g.k, f.b = b.data(), f.ldb = g.k;
    f.beta = g.beta, f.c = g.c + j0, f.ldc = g.ldc, f.bias = g.bias ? g.bias + j0 : nullptr;
    gemm(f);
  }
}

}  // namespace

bool gemm_bf16_native() { return cpu_has_avx512_bf16(); }

void gemm_bf16(const GemmBf16Args& g) {
  if (g.m == 0 || g.n == 0) return;
  if (g.k == 0 || g.alpha == 0.0f) {
    // Nothing to multiply: C = beta * C + bias, as the float32 GEMM does it.
    GemmArgs f;
    f.m = g.m, f.n = g.n, f.k = 0, f.alpha = g.alpha, f.beta = g.beta, f.c = g.c, f.ldc = g.ldc, f.bias = g.bias;
    gemm(f);
    return;
  }
  if (gemm_bf16_native())
    gemm_bf16_avx512(g);
  else
    gemm_bf16_portable(g);
}

}  // namespace peftjs
