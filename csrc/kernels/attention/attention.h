// Fused scaled-dot-product attention, flash-attention style: scores are made one [query block, key block]
// tile at a time and folded into an online softmax, so no [tq, tk] matrix per head is ever held.
#pragma once

#include <cstdint>

namespace peftjs {

// q [B, tq, q_heads, D], k and v [B, tk, kv_heads, D]; token rows are *_stride elements apart and head h
// sits at column h * D of its row (so q, k, v may be column slices of one fused qkv matrix).
struct AttentionArgs {
  int64_t batch, tq, tk, q_heads, kv_heads, head_dim;
  float scale;
  // Query i sees keys j <= i + (tk - tq).
  bool causal;
  // Sliding window (0 = none): query i sees only keys j > i + (tk - tq) - window, HF's sliding_window
  // (masking_utils.sliding_window_overlay: kv_idx > q_idx - sliding_window, with q_idx the query's absolute
  // position i + (tk - tq)); so window keys at most, itself included. Applies with or without causal.
  int64_t window;
  // Logit soft-capping (0 = none): a score s = scale * q.k becomes softcap * tanh(s / softcap) before the
  // mask and the softmax (Gemma 2's attn_logit_softcapping); the backward multiplies by 1 - tanh^2.
  float softcap;
  // [batch, tk], 0 hides a key; null attends to every key.
  const int32_t* key_mask;
  const float *q, *k, *v;
  int64_t q_stride, k_stride, v_stride;
};

// out [B, tq, q_heads, D] packed; lse [B, q_heads, tq]. A query that sees no key: out 0, lse -inf.
void attention_forward(const AttentionArgs& a, float* out, float* lse);

// dq, dk, dv in the layouts of q, k, v (own strides), written, not accumulated; only the columns of
// their own heads are touched, so they may be column slices of one dqkv buffer.
void attention_backward(const AttentionArgs& a, const float* out, const float* lse, const float* dout, float* dq,
                        int64_t dq_stride, float* dk, int64_t dk_stride, float* dv, int64_t dv_stride);

// The same results by plain loops over visible keys only (attention_exact.cc): what attention_forward and
// attention_backward run when an input holds NaN or Inf, so that hidden keys never contribute 0 * NaN.
void attention_forward_exact(const AttentionArgs& a, float* out, float* lse);
void attention_backward_exact(const AttentionArgs& a, const float* out, const float* lse, const float* dout, float* dq,
                              int64_t dq_stride, float* dk, int64_t dk_stride, float* dv, int64_t dv_stride);

}  // namespace peftjs
