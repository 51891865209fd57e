// Attention by plain loops over the keys each query sees, for inputs holding NaN or Inf. The tiled kernels
// multiply whole tiles, so a hidden key still meets its query as 0 * x: harmless for finite x, NaN for a
// non-finite one, which made a NaN in a masked key poison queries that never see it. Here hidden keys are
// skipped, as in the js reference (lib/ops/attention/reference.ts), whose order of operations and
// double-precision sums this follows, so both backends agree on where NaN and Inf land.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "../../runtime/thread_pool.h"
#include "attention.h"

namespace peftjs {
namespace {

constexpr double kHiddenScore = -std::numeric_limits<double>::infinity();

bool key_visible(const AttentionArgs& a, int64_t b, int64_t i, int64_t j) {
  if (a.causal && j > i + (a.tk - a.tq)) return false;
  // Sliding window (HF's kv_idx > q_idx - sliding_window, q_idx = i + (tk - tq)).
  if (a.window > 0 && j <= i + (a.tk - a.tq) - a.window) return false;
  return a.key_mask == nullptr || a.key_mask[b * a.tk + j] != 0;
}

int64_t kv_head_of(const AttentionArgs& a, int64_t h) { return h / (a.q_heads / a.kv_heads); }

// scale * q_i . k_j of query head h for every key (soft-capped: softcap * tanh(s / softcap)), -inf where hidden.
void scores_row(const AttentionArgs& a, int64_t b, int64_t h, int64_t i, std::vector<double>& s) {
  const int64_t D = a.head_dim, g = kv_head_of(a, h);
  const float* q = a.q + (b * a.tq + i) * a.q_stride + h * D;
  for (int64_t j = 0; j < a.tk; ++j) {
    if (!key_visible(a, b, i, j)) {
      s[j] = kHiddenScore;
      continue;
    }
    const float* k = a.k + (b * a.tk + j) * a.k_stride + g * D;
    double dot = 0;
    for (int64_t d = 0; d < D; ++d) dot += static_cast<double>(q[d]) * k[d];
    s[j] = static_cast<double>(a.scale) * dot;
    if (a.softcap != 0.0f) s[j] = a.softcap * std::tanh(s[j] / a.softcap);
  }
}

// std::max drops a NaN depending on argument order; JS's Math.max keeps it.
double js_max(double m, double x) { return std::isnan(m) || std::isnan(x) ? std::nan("") : std::max(m, x); }

}  // namespace

void attention_forward_exact(const AttentionArgs& a, float* out, float* lse) {
  const int64_t D = a.head_dim, H = a.q_heads;
  parallel_tasks(a.batch * H, [&](int64_t t) {
    const int64_t b = t / H, h = t % H, g = kv_head_of(a, h);
    std::vector<double> s(static_cast<size_t>(a.tk)), o(static_cast<size_t>(D));
    for (int64_t i = 0; i < a.tq; ++i) {
      scores_row(a, b, h, i, s);
      double m = kHiddenScore;
      for (int64_t j = 0; j < a.tk; ++j) m = js_max(m, s[j]);
      float* dst = out + ((b * a.tq + i) * H + h) * D;
      float& l = lse[(b * H + h) * a.tq + i];
      if (m == kHiddenScore) {
        for (int64_t d = 0; d < D; ++d) dst[d] = 0.0f;
        l = -std::numeric_limits<float>::infinity();
        continue;
      }
      double sum = 0;
      for (int64_t j = 0; j < a.tk; ++j) sum += std::exp(s[j] - m);
      l = static_cast<float>(m + std::log(sum));
      std::fill(o.begin(), o.end(), 0.0);
      for (int64_t j = 0; j < a.tk; ++j) {
        if (s[j] == kHiddenScore) continue;
        const double w = std::exp(s[j] - m) / sum;
        const float* v = a.v + (b * a.tk + j) * a.v_stride + g * D;
        for (int64_t d = 0; d < D; ++d) o[d] += w * v[d];
      }
      for (int64_t d = 0; d < D; ++d) dst[d] = static_cast<float>(o[d]);
    }
  });
}

void attention_backward_exact(const AttentionArgs& a, const float* out, const float* lse, const float* dout, float* dq,
                              int64_t dq_stride, float* dk, int64_t dk_stride, float* dv, int64_t dv_stride) {
  const int64_t D = a.head_dim, H = a.q_heads, group = a.q_heads / a.kv_heads;
  // One task per (sequence, kv head): it alone writes that head's dk, dv and its query heads' dq columns.
  parallel_tasks(a.batch * a.kv_heads, [&](int64_t t) {
    const int64_t b = t / a.kv_heads, kh = t % a.kv_heads;
    const size_t Ds = static_cast<size_t>(D);
    std::vector<double> s(static_cast<size_t>(a.tk)), dqa(Ds);
    std::vector<double> dka(static_cast<size_t>(a.tk) * Ds, 0.0), dva(static_cast<size_t>(a.tk) * Ds, 0.0);
    for (int64_t h = kh * group; h < (kh + 1) * group; ++h) {
      for (int64_t i = 0; i < a.tq; ++i) {
        float* dqi = dq + (b * a.tq + i) * dq_stride + h * D;
        std::fill(dqa.begin(), dqa.end(), 0.0);
        const double L = lse[(b * H + h) * a.tq + i];
        if (L != kHiddenScore) {  // a query that sees nothing passes no gradient
          scores_row(a, b, h, i, s);
          const float* o = out + ((b * a.tq + i) * H + h) * D;
          const float* dO = dout + ((b * a.tq + i) * H + h) * D;
          const float* q = a.q + (b * a.tq + i) * a.q_stride + h * D;
          double Di = 0;
          for (int64_t d = 0; d < D; ++d) Di += static_cast<double>(dO[d]) * o[d];
          for (int64_t j = 0; j < a.tk; ++j) {
            if (s[j] == kHiddenScore) continue;
            const double P = std::exp(s[j] - L);
            const float* v = a.v + (b * a.tk + j) * a.v_stride + kh * D;
            const float* k = a.k + (b * a.tk + j) * a.k_stride + kh * D;
            double dP = 0;
            for (int64_t d = 0; d < D; ++d) dP += static_cast<double>(dO[d]) * v[d];
            double dS = a.scale * P * (dP - Di);
            if (a.softcap != 0.0f) {  // d(c tanh(x / c))/dx = 1 - tanh^2, tanh = the capped score / c
              const double t = s[j] / a.softcap;
              dS *= 1.0 - t * t;
            }
            for (int64_t d = 0; d < D; ++d) {
              dqa[d] += dS * k[d];
              dka[j * D + d] += dS * q[d];
              dva[j * D + d] += P * dO[d];
            }
          }
        }
        for (int64_t d = 0; d < D; ++d) dqi[d] = static_cast<float>(dqa[d]);
      }
    }
    for (int64_t j = 0; j < a.tk; ++j)
      for (int64_t d = 0; d < D; ++d) {
        dk[(b * a.tk + j) * dk_stride + kh * D + d] = static_cast<float>(dka[j * D + d]);
        dv[(b * a.tk + j) * dv_stride + kh * D + d] = static_cast<float>(dva[j * D + d]);
      }
  });
}

}  // namespace peftjs
