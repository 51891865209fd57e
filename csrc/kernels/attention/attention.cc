// Fused attention on the CPU. Forward: a task is one (sequence, query head) and a run of 32-query blocks;
// it packs K^T and V of the keys it can see once, then runs an online softmax over 64-key tiles. Backward:
// a task is one (sequence, kv head) (or a share of its keys), recomputing P from q, k and lse tile by tile.
#include "attention.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "../../runtime/thread_pool.h"
#include "attention_block.h"
#include "../simd/dispatch.h"

namespace peftjs {
namespace {

constexpr float kHidden = -std::numeric_limits<float>::infinity();
constexpr float kInf = std::numeric_limits<float>::infinity();
// Tile sizes: a [BQ, BK] score tile (8 KiB) against [D, BK] panels of K^T and V (32 KiB at D = 128):
// the working set of one tile stays in L1/L2.
constexpr int64_t BQ = 32;
constexpr int64_t BK = 64;

AttentionBlockOps block_ops() {
  return for_cpu_path(attention_block_ops_scalar, attention_block_ops_avx2)();
}

// Per-thread scratch, grown on demand and kept for the next call: tiles, plus the forward's packed K^T
// and V of one head (2 * D * tk floats: 2 MiB at tk = 4096, D = 64).
float* thread_scratch(size_t floats) {
  thread_local std::vector<float> buf;
  if (buf.size() < floats) buf.resize(floats);
  return buf.data();
}

// Whether n rows of d floats, `stride` apart, are all finite.
bool rows_finite(const float* x, int64_t n, int64_t stride, int64_t d) {
  uint32_t bad = 0;  // integer tests vectorize without -ffast-math: exponent all ones is Inf or NaN
  for (int64_t r = 0; r < n; ++r)
    for (int64_t c = 0; c < d; ++c) {
      uint32_t bits;
      std::memcpy(&bits, x + r * stride + c, sizeof bits);
      bad |= (bits & 0x7f800000u) == 0x7f800000u;
    }
  return bad == 0;
}

// n rows of d floats, `stride` apart, copied to contiguous rows.
void pack_rows(const float* src, int64_t stride, int64_t n, int64_t d, float* dst) {
  for (int64_t r = 0; r < n; ++r) std::memcpy(dst + r * d, src + r * stride, sizeof(float) * d);
}

// Soft-caps a score tile of n rows and nk keys in place: s = softcap * tanh(s / softcap) (Gemma 2), before the
// mask. With `slope`, also writes d(capped)/d(s) = 1 - tanh^2 for the backward. Nothing without a softcap.
void cap_tile(const AttentionArgs& a, int64_t n, int64_t nk, float* s, float* slope) {
  if (a.softcap == 0.0f) return;
  const float c = a.softcap, inv = 1.0f / a.softcap;
  for (int64_t r = 0; r < n; ++r)
    for (int64_t col = 0; col < nk; ++col) {
      const float t = std::tanh(s[r * BK + col] * inv);
      s[r * BK + col] = c * t;
      if (slope) slope[r * BK + col] = 1.0f - t * t;
    }
}

// Hides, in a score tile of rows [i0, i0 + n) and keys [j0, j0 + nk), the keys a query may not see.
void mask_tile(const AttentionArgs& a, int64_t b, int64_t i0, int64_t n, int64_t j0, int64_t nk, float* s) {
  const int32_t* km = a.key_mask ? a.key_mask + b * a.tk + j0 : nullptr;
  const int64_t offset = a.tk - a.tq;
  for (int64_t r = 0; r < n; ++r) {
    float* row = s + r * BK;
    if (km)
      for (int64_t c = 0; c < nk; ++c)
        if (km[c] == 0) row[c] = kHidden;
    if (a.causal) {
      // Query i0 + r sees keys j <= i0 + r + offset; the rest of this tile is hidden.
      const int64_t first_hidden = std::max<int64_t>(0, std::min<int64_t>(nk, i0 + r + offset + 1 - j0));
      for (int64_t c = first_hidden; c < nk; ++c) row[c] = kHidden;
    }
    if (a.window > 0) {
      // Sliding window: query i0 + r sees keys j > i0 + r + offset - window; those at or below are hidden.
      const int64_t visible_from = std::max<int64_t>(0, std::min<int64_t>(nk, i0 + r + offset - a.window + 1 - j0));
      for (int64_t c = 0; c < visible_from; ++c) row[c] = kHidden;
    }
  }
}

// Keys a block of queries [i0, i1) can see at all: [key_begin(i0), key_end(i1)).
int64_t key_end(const AttentionArgs& a, int64_t i1) {
  if (!a.causal) return a.tk;
  return std::max<int64_t>(0, std::min<int64_t>(a.tk, i1 - 1 + (a.tk - a.tq) + 1));
}
int64_t key_begin(const AttentionArgs& a, int64_t i0) {
  if (a.window <= 0) return 0;
  return std::max<int64_t>(0, std::min<int64_t>(a.tk, i0 + (a.tk - a.tq) - a.window + 1));
}
// Queries that can see any of the keys [j0, j1): [.., query_end(j1)) (the window's upper bound on queries).
int64_t query_end(const AttentionArgs& a, int64_t j1) {
  if (a.window <= 0) return a.tq;
  return std::max<int64_t>(0, std::min<int64_t>(a.tq, j1 - 1 - (a.tk - a.tq) + a.window));
}

// One (sequence, query head) and its query blocks [qb0, qb1): K^T (scaled, one [D, BK] panel per key
// tile) and V (rows packed at D apart) of every key they can see are made once, then each query block
// runs an online softmax over key tiles. Packing matters beyond the transpose: rows of a fused qkv are
// kilobytes apart, and a tile's 64 rows at such a stride fall into a few L1 sets and evict each other.
//
// Returns false when a score is NaN or +inf or an output is not finite: the tiles let hidden keys add
// 0 * x and the vector exp clamps its input, exact only for finite values, so the caller reruns the
// call on the exact path. Where everything stays finite the tiles' results are the exact path's (a
// non-finite input either meets a visible score, or meets a zero probability and leaves a NaN).
bool forward_chunk(const AttentionArgs& a, const AttentionBlockOps& ops, int64_t b, int64_t h, int64_t qb0,
                   int64_t qb1, float* out, float* lse) {
  const int64_t D = a.head_dim, H = a.q_heads;
  const int64_t kvh = h / (a.q_heads / a.kv_heads);
  const int64_t kend_all = key_end(a, std::min(a.tq, qb1 * BQ));
  // Keys below the window of the first query block are never packed (kbase is a multiple of BK).
  const int64_t kbase = std::min(key_begin(a, qb0 * BQ), kend_all) / BK * BK;
  const int64_t padded = (kend_all - kbase + BK - 1) / BK * BK;
  float* kt = thread_scratch(static_cast<size_t>(2 * D * padded + BQ * BK + BQ * D + 2 * BQ));
  float* vp = kt + D * padded;
  float* s = vp + D * padded;
  float* o = s + BQ * BK;
  float* m = o + BQ * D;
  float* l = m + BQ;
  const float* k = a.k + b * a.tk * a.k_stride + kvh * D;
  const float* v = a.v + b * a.tk * a.v_stride + kvh * D;
  for (int64_t j0 = kbase; j0 < kend_all; j0 += BK)
    ops.transpose(k + j0 * a.k_stride, a.k_stride, std::min(BK, kend_all - j0), D, a.scale, kt + (j0 - kbase) * D, BK);
  pack_rows(v + kbase * a.v_stride, a.v_stride, kend_all - kbase, D, vp);
  for (int64_t qb = qb0; qb < qb1; ++qb) {
    const int64_t i0 = qb * BQ, i1 = std::min(a.tq, i0 + BQ), n = i1 - i0;
    std::fill(o, o + n * D, 0.0f);
    std::fill(m, m + n, kHidden);
    std::fill(l, l + n, 0.0f);
    const float* q = a.q + (b * a.tq + i0) * a.q_stride + h * D;
    const int64_t kend = key_end(a, i1);
    // Key tiles wholly below the block's window are skipped (the first tile may still hide some keys).
    for (int64_t j0 = std::max(kbase, key_begin(a, i0) / BK * BK); j0 < kend; j0 += BK) {
      const int64_t nk = std::min(BK, kend - j0);
      ops.matmul(n, nk, D, q, a.q_stride, kt + (j0 - kbase) * D, BK, s, BK, false);
      cap_tile(a, n, nk, s, nullptr);
      mask_tile(a, b, i0, n, j0, nk, s);
      for (int64_t r = 0; r < n; ++r) {
        float* row = s + r * BK;
        const float row_max = ops.row_max(row, nk);
        if (!(row_max < kInf)) return false;  // NaN or +inf
        const float m_new = std::max(m[r], row_max);
        if (m_new == kHidden) {  // nothing visible yet: this row adds nothing
          std::fill(row, row + nk, 0.0f);
          continue;
        }
        const float alpha = std::exp(m[r] - m_new);  // 0 when m[r] is -inf
        if (alpha != 1.0f) {
          float* orow = o + r * D;
          for (int64_t e = 0; e < D; ++e) orow[e] *= alpha;
        }
        l[r] = l[r] * alpha + ops.exp_shifted(row, nk, m_new, row);
        m[r] = m_new;
      }
      ops.matmul(n, D, nk, s, BK, vp + (j0 - kbase) * D, D, o, D, true);
    }
    for (int64_t r = 0; r < n; ++r) {
      float* dst = out + ((b * a.tq + i0 + r) * H + h) * D;
      const bool seen = l[r] > 0.0f;
      const float inv = seen ? 1.0f / l[r] : 0.0f;
      for (int64_t e = 0; e < D; ++e) dst[e] = o[r * D + e] * inv;
      if (!rows_finite(dst, 1, D, D)) return false;
      lse[(b * H + h) * a.tq + i0 + r] = seen ? m[r] + std::log(l[r]) : kHidden;
    }
  }
  return true;
}

struct BackwardOut {
  const float *out, *lse, *dout;
  float *dq, *dk, *dv;
  int64_t dq_stride, dk_stride, dv_stride;
};

// Where one task's dq goes: row i of query head gi of the group at base + i * stride + gi * D (dq itself,
// or a partial sum when the keys of a group are split over several tasks).
struct DqTarget {
  float* base;
  int64_t stride;
};

// One (sequence, kv head) and its keys [kbegin, kend): every query head of the group against every key
// tile. dk and dv of the keys gather in per-tile accumulators and are written once; dq of the group's
// heads accumulates into the target (zeroed first).
// Returns false when a saved lse is NaN or +inf or a gradient is not finite (see forward_chunk): the
// caller then reruns the call on the exact path.
bool backward_group(const AttentionArgs& a, const AttentionBlockOps& ops, const BackwardOut& g, int64_t b,
                    int64_t kvh, int64_t kbegin, int64_t kend, DqTarget dq) {
  const int64_t D = a.head_dim, H = a.q_heads, group = a.q_heads / a.kv_heads, offset = a.tk - a.tq;
  const size_t tiles = static_cast<size_t>(3 * D * BK + 5 * BQ * BK + 2 * BK * D + 2 * BQ * D);
  float* kt = thread_scratch(tiles + static_cast<size_t>(group * a.tq));
  float* vt = kt + D * BK;
  float* kp = vt + D * BK;     // [BK, D] keys packed (see forward_chunk on why rows are packed)
  float* qp = kp + BK * D;     // [BQ, D] queries packed
  float* dop = qp + BQ * D;    // [BQ, D] dout packed
  float* p = dop + BQ * D;     // [BQ, BK] probabilities
  float* ds = p + BQ * BK;     // [BQ, BK] dP, then scale * dS
  float* pt = ds + BQ * BK;    // [BK, BQ]
  float* dst = pt + BQ * BK;   // [BK, BQ]
  float* dk_acc = dst + BQ * BK;
  float* dv_acc = dk_acc + BK * D;
  float* slope = dv_acc + BK * D;  // [BQ, BK] d(capped score)/d(score) under a softcap
  float* delta = slope + BQ * BK;  // [group, tq]: dout_i . out_i

  for (int64_t gi = 0; gi < group; ++gi) {
    const int64_t h = kvh * group + gi;
    for (int64_t i = 0; i < a.tq; ++i) {
      const float* o = g.out + ((b * a.tq + i) * H + h) * D;
      const float* d = g.dout + ((b * a.tq + i) * H + h) * D;
      float sum = 0.0f;
      for (int64_t e = 0; e < D; ++e) sum += o[e] * d[e];
      delta[gi * a.tq + i] = sum;
    }
  }
  // The group's heads are adjacent columns of dq.
  for (int64_t i = 0; i < a.tq; ++i) std::fill(dq.base + i * dq.stride, dq.base + i * dq.stride + group * D, 0.0f);

  for (int64_t j0 = kbegin; j0 < kend; j0 += BK) {
    const int64_t nk = std::min(BK, kend - j0);
    const float* k = a.k + (b * a.tk + j0) * a.k_stride + kvh * D;
    ops.transpose(k, a.k_stride, nk, D, a.scale, kt, BK);
    pack_rows(k, a.k_stride, nk, D, kp);
    ops.transpose(a.v + (b * a.tk + j0) * a.v_stride + kvh * D, a.v_stride, nk, D, 1.0f, vt, BK);
    std::fill(dk_acc, dk_acc + nk * D, 0.0f);
    std::fill(dv_acc, dv_acc + nk * D, 0.0f);
    // Causal: queries before j0 - offset see none of these keys.
    const int64_t first_query = a.causal ? std::max<int64_t>(0, j0 - offset) : 0;
    // Sliding window: queries from query_end on see none of these keys.
    const int64_t last_query = query_end(a, j0 + nk);
    for (int64_t gi = 0; gi < group; ++gi) {
      const int64_t h = kvh * group + gi;
      for (int64_t i0 = first_query - first_query % BQ; i0 < last_query; i0 += BQ) {
        const int64_t n = std::min(BQ, a.tq - i0);
        pack_rows(a.q + (b * a.tq + i0) * a.q_stride + h * D, a.q_stride, n, D, qp);
        pack_rows(g.dout + ((b * a.tq + i0) * H + h) * D, H * D, n, D, dop);
        ops.matmul(n, nk, D, qp, D, kt, BK, p, BK, false);
        cap_tile(a, n, nk, p, slope);
        mask_tile(a, b, i0, n, j0, nk, p);
        for (int64_t r = 0; r < n; ++r) {
          float* row = p + r * BK;
          const float L = g.lse[(b * H + h) * a.tq + i0 + r];
          if (L == kHidden) std::fill(row, row + nk, 0.0f);  // sees nothing: passes no gradient
          else if (!(L < kInf)) return false;              // NaN or +inf
          else ops.exp_shifted(row, nk, L, row);
        }
        ops.matmul(n, nk, D, dop, D, vt, BK, ds, BK, false);
        for (int64_t r = 0; r < n; ++r) {
          const float di = delta[gi * a.tq + i0 + r];
          for (int64_t c = 0; c < nk; ++c) ds[r * BK + c] = a.scale * p[r * BK + c] * (ds[r * BK + c] - di);
          if (a.softcap != 0.0f)
            for (int64_t c = 0; c < nk; ++c) ds[r * BK + c] *= slope[r * BK + c];
        }
        ops.transpose(p, BK, n, nk, 1.0f, pt, BQ);
        ops.transpose(ds, BK, n, nk, 1.0f, dst, BQ);
        ops.matmul(nk, D, n, pt, BQ, dop, D, dv_acc, D, true);
        ops.matmul(nk, D, n, dst, BQ, qp, D, dk_acc, D, true);
        ops.matmul(n, D, nk, ds, BK, kp, D, dq.base + i0 * dq.stride + gi * D, dq.stride, true);
      }
    }
    if (!rows_finite(dk_acc, nk, D, D) || !rows_finite(dv_acc, nk, D, D)) return false;
    for (int64_t c = 0; c < nk; ++c) {
      std::memcpy(g.dk + (b * a.tk + j0 + c) * g.dk_stride + kvh * D, dk_acc + c * D, sizeof(float) * D);
      std::memcpy(g.dv + (b * a.tk + j0 + c) * g.dv_stride + kvh * D, dv_acc + c * D, sizeof(float) * D);
    }
  }
  return rows_finite(dq.base, a.tq, dq.stride, group * D);
}

}  // namespace

void attention_forward(const AttentionArgs& a, float* out, float* lse) {
  if (a.batch == 0 || a.tq == 0 || a.q_heads == 0) return;
  const AttentionBlockOps ops = block_ops();
  // A task is a run of query blocks of one head, sharing one K^T; runs are cut only as far as needed to
  // give every thread a few tasks.
  const int64_t qblocks = (a.tq + BQ - 1) / BQ, heads = a.batch * a.q_heads;
  const int64_t chunks = std::min(qblocks, (4 * num_threads() + heads - 1) / heads);
  const int64_t per_chunk = (qblocks + chunks - 1) / chunks;
  std::atomic<bool> finite{true};
  parallel_tasks(heads * chunks, [&](int64_t t) {
    if (!finite.load(std::memory_order_relaxed)) return;
    // Last chunks first: under a causal mask they see the most keys.
    const int64_t c = chunks - 1 - t % chunks, bh = t / chunks;
    const int64_t qb0 = c * per_chunk, qb1 = std::min(qblocks, qb0 + per_chunk);
    if (qb0 < qb1 && !forward_chunk(a, ops, bh / a.q_heads, bh % a.q_heads, qb0, qb1, out, lse))
      finite.store(false, std::memory_order_relaxed);
  });
  if (!finite.load()) attention_forward_exact(a, out, lse);
}

void attention_backward(const AttentionArgs& a, const float* out, const float* lse, const float* dout, float* dq,
                        int64_t dq_stride, float* dk, int64_t dk_stride, float* dv, int64_t dv_stride) {
  if (a.batch == 0 || a.kv_heads == 0) return;
  const AttentionBlockOps ops = block_ops();
  const BackwardOut g{out, lse, dout, dq, dk, dv, dq_stride, dk_stride, dv_stride};
  const int64_t groups = a.batch * a.kv_heads, group_width = (a.q_heads / a.kv_heads) * a.head_dim;
  // One task per (sequence, kv head) when there are enough of them; otherwise each group's keys are split
  // over several tasks, whose dq partial sums (all but the first) go to scratch and are added after.
  const int64_t kblocks = (a.tk + BK - 1) / BK;
  const int64_t splits = std::max<int64_t>(1, std::min(kblocks, (num_threads() + groups - 1) / groups));
  const int64_t per_split = (kblocks + splits - 1) / splits * BK;
  std::vector<float> partial(static_cast<size_t>(splits > 1 ? groups * (splits - 1) * a.tq * group_width : 0));
  auto target = [&](int64_t grp, int64_t split) -> DqTarget {
    if (split == 0) return {dq + (grp / a.kv_heads) * a.tq * dq_stride + (grp % a.kv_heads) * group_width, dq_stride};
    return {partial.data() + (grp * (splits - 1) + split - 1) * a.tq * group_width, group_width};
  };
  std::atomic<bool> finite{true};
  parallel_tasks(groups * splits, [&](int64_t t) {
    if (!finite.load(std::memory_order_relaxed)) return;
    const int64_t grp = t / splits, split = t % splits;
    const int64_t k0 = std::min(a.tk, split * per_split), k1 = std::min(a.tk, k0 + per_split);
    if (!backward_group(a, ops, g, grp / a.kv_heads, grp % a.kv_heads, k0, k1, target(grp, split)))
      finite.store(false, std::memory_order_relaxed);
  });
  if (!finite.load()) return attention_backward_exact(a, out, lse, dout, dq, dq_stride, dk, dk_stride, dv, dv_stride);
  if (splits == 1) return;
  parallel_tasks(groups, [&](int64_t grp) {
    const DqTarget to = target(grp, 0);
    for (int64_t split = 1; split < splits; ++split) {
      const DqTarget from = target(grp, split);
      for (int64_t i = 0; i < a.tq; ++i)
        for (int64_t e = 0; e < group_width; ++e) to.base[i * to.stride + e] += from.base[i * from.stride + e];
    }
  });
}

}  // namespace peftjs
