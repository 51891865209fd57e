// Single-precision GEMM on row-major matrices, with the fusions the PEFT kernels need:
//   v[m, n] = alpha * (sum_k op(A)[m, k] op(B)[k, n] + a2_scale * sum_k2 op(A2)[m, k2] op(B2)[k2, n])
//             + beta * C[m, n] + bias[n]
//   pre_out[m, n] = v (when set);  C[m, n] = act(v * col_scale[n])   (col_scale and act optional)
// op(A) = A [m, k] (lda >= k), or A^T with A stored [k, m] (lda >= m) when trans_a; likewise op(B).
// The optional second K segment (A2 [m, k2], B2 [k2, n], same transposes) is the LoRA concatenation
// [x | s u] [W | B]^T: one pass over C instead of two. beta == 0 means C is write-only (it may hold
// NaN garbage). bias, col_scale and pre_out may be null.
#pragma once

#include <cstdint>

namespace peftjs {

enum class Activation { None, Relu, Gelu, GeluTanh, Silu };

struct GemmArgs {
  bool trans_a = false;
  bool trans_b = false;
  int64_t m = 0, n = 0, k = 0;
  float alpha = 1.0f;
  const float* a = nullptr;
  int64_t lda = 0;
  const float* b = nullptr;
  int64_t ldb = 0;
  float beta = 0.0f;
  float* c = nullptr;
  int64_t ldc = 0;
  const float* bias = nullptr;
  // Second K segment.
  int64_t k2 = 0;
  const float* a2 = nullptr;
  int64_t lda2 = 0;
  const float* b2 = nullptr;
  int64_t ldb2 = 0;
  float a2_scale = 1.0f;
  // Epilogue after the bias.
  const float* col_scale = nullptr;
  Activation act = Activation::None;
  float* pre_out = nullptr;
  int64_t ld_pre = 0;
};

void gemm(const GemmArgs& args);

// The activation functions as the epilogue computes them (shared with the elementwise kernels' tests).
float apply_activation(Activation act, float v);

}  // namespace peftjs
