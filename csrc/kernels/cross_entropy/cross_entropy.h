// Softmax cross-entropy over the rows of logits [rows, vocab], the loss of a language model's head.
// Targets are trusted here (the binding checks them): in [0, vocab) or equal to ignore_index.
#pragma once

#include <cstdint>

namespace peftjs {

// lse[r] = log-sum-exp of row r (max-subtracted); losses[r] = lse[r] - logits[r, t], 0 for ignored rows.
void cross_entropy_forward(const float* logits, const int32_t* targets, int64_t rows, int64_t vocab,
                           int32_t ignore_index, float* losses, float* lse);
// dlogits[r] = (exp(logits[r] - lse[r]) - onehot(t)) * grad_scale; all zero for ignored rows.
void cross_entropy_backward(const float* logits, const int32_t* targets, const float* lse, int64_t rows,
                            int64_t vocab, int32_t ignore_index, float grad_scale, float* dlogits);

// One row's pieces, per CPU path (cross_entropy.cc holds the scalar ones, cross_entropy_avx2.cc the rest).
// row_lse: max, then sum of exp(x - max): two passes, the second from cache.
float row_lse_scalar(const float* x, int64_t n);
float row_lse_avx2(const float* x, int64_t n);
// out[j] = exp(x[j] - lse) * scale
void row_softmax_scaled_scalar(const float* x, int64_t n, float lse, float scale, float* out);
void row_softmax_scaled_avx2(const float* x, int64_t n, float lse, float scale, float* out);

}  // namespace peftjs
