// Fused scaled-dot-product attention on the GPU with the semantics of csrc/kernels/attention (attention.h):
// q [B, tq, q_heads, D] and k, v [B, tk, kv_heads, D] with row strides, grouped-query heads, the causal mask
// with its offset (query i sees keys j <= i + (tk - tq)), the sliding window (query i sees keys
// j > i + (tk - tq) - window, HF's sliding_window), logit soft-capping (s = softcap * tanh(s / softcap) before
// the mask), a device key mask, out packed, lse [B, q_heads, tq]; a query that sees no key gets out 0 and lse -inf.
// Key tiles wholly outside a query tile's window are never visited (and query tiles outside a key tile's).
//
// Flash-attention-2 on SIMT fp32 (no [tq, tk] matrix is ever held):
//  - forward: a 128-thread block per (sequence, query head, 32-query block, output column chunk). Each warp
//    owns 8 query rows, each lane one key of the 32-key tile: scores come from Q and K staged 32 columns of D
//    at a time in shared memory, the online softmax runs in float32 with warp shuffles (every lane holds its
//    rows' running max and sum), and O += P V reads V from shared memory, a lane per output column.
//  - backward: delta = rowsum(dout * out) (a warp per query row), then one kernel for dk and dv (a block per
//    (sequence, kv head, 32-key block, column chunk) that loops over every query head of the group and every
//    query: each key's gradient is summed by one thread in a fixed order, so no atomics and the same result
//    every run) and one for dq (a block per (sequence, query head, query block, column chunk) over the
//    keys), both recomputing p = exp(s - lse).
// Any head_dim: dot products loop over D in 32-column chunks; the accumulators of one block cover at most
// 128 output columns (kept in registers), and a larger D is split over several blocks along the column chunk,
// each recomputing the scores over the whole of D.
//
// NaN and Inf follow the CPU's exact path (attention_exact.cc), not a tiled product: a key a query does not
// see (masked, causal, past tk, or with a score of -inf) is skipped by a per-row warp ballot, never
// multiplied by a zero probability, so a NaN in a hidden key stays out while one in a visible key still
// propagates (its probability may underflow to 0 and 0 * NaN is NaN, as on the CPU). The running max
// propagates NaN as JS's Math.max does.
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>

#include "common.cuh"
#include "device_api.h"

namespace peftjs {
namespace cuda {
namespace {

constexpr int kWarpSize = 32;
constexpr int kTile = 32;                 // queries per query tile = keys per key tile = columns per D chunk
constexpr int kWarps = 4;
constexpr int kThreads = kWarps * kWarpSize;
constexpr int kRows = kTile / kWarps;     // rows of a tile each warp owns
constexpr int kPad = kTile + 1;           // row stride of tiles a lane reads down its own row: no bank conflicts
constexpr int kTileFloats = kTile * kTile;    // a tile read by broadcast (float4 rows, 16-byte aligned)
constexpr int kPadFloats = kTile * kPad;      // a tile read a row per lane (a multiple of 4 floats)
constexpr int64_t kMaxGrid = int64_t{1} << 20;  // blocks beyond loop over tasks
constexpr unsigned kFullMask = 0xffffffffu;
constexpr float kNegInf = -INFINITY;

static_assert(kTile == kWarpSize, "a lane per key (forward, dq) or per query (dk, dv) of a tile");
static_assert(kPadFloats % 4 == 0, "tiles after a padded one stay 16-byte aligned");

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2) v += __shfl_xor_sync(kFullMask, v, offset);
  return v;
}

// max that keeps a NaN of either side, as JS's Math.max (and attention_exact.cc's js_max) does.
__device__ __forceinline__ float nan_max(float a, float b) { return (a > b || a != a) ? a : b; }

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2) v = nan_max(v, __shfl_xor_sync(kFullMask, v, offset));
  return v;
}

// Stages rows [0, 32) x columns [0, W) of a matrix whose rows are `stride` floats apart into tile (rows `ld`
// apart), with zeros where row >= nr or column >= nc: padding then adds exact zeros to the dot products
// instead of reading past the data, and never leaves stale values (a stale NaN) in shared memory.
template <int W>
__device__ __forceinline__ void stage(float* tile, int ld, const float* src, int64_t stride, int64_t nr, int64_t nc) {
  for (int idx = threadIdx.x; idx < kTile * W; idx += kThreads) {
    const int r = idx / W, c = idx % W;
    tile[r * ld + c] = (r < nr && c < nc) ? src[r * stride + c] : 0.0f;
  }
}

// Keys [0, key_end) are all that queries [.., i1) can see.
__device__ __forceinline__ int64_t key_end(const AttentionArgs& a, int64_t i1) {
  if (!a.causal) return a.tk;
  const int64_t e = i1 + (a.tk - a.tq);
  return e < 0 ? 0 : (e > a.tk ? a.tk : e);
}

// The first key that queries [i0, ..) can see under the sliding window.
__device__ __forceinline__ int64_t key_begin(const AttentionArgs& a, int64_t i0) {
  if (a.window <= 0) return 0;
  const int64_t e = i0 + (a.tk - a.tq) - a.window + 1;
  return e < 0 ? 0 : (e > a.tk ? a.tk : e);
}

// Queries [.., query_end) are all that can see keys [.., j1) under the sliding window.
__device__ __forceinline__ int64_t query_end(const AttentionArgs& a, int64_t j1) {
  if (a.window <= 0) return a.tq;
  const int64_t e = j1 - 1 - (a.tk - a.tq) + a.window;
  return e < 0 ? 0 : (e > a.tq ? a.tq : e);
}

// Whether the positions allow query i to see key j: causal (j <= i + (tk - tq)) and the sliding window
// (j > i + (tk - tq) - window, transformers' masking_utils.sliding_window_overlay).
__device__ __forceinline__ bool causal_ok(const AttentionArgs& a, int64_t i, int64_t j) {
  const int64_t pos = i + (a.tk - a.tq);
  return (!a.causal || j <= pos) && (a.window <= 0 || j > pos - a.window);
}

// A raw score scale * q.k soft-capped (softcap * tanh(x / softcap); x itself without a softcap).
__device__ __forceinline__ float capped(const AttentionArgs& a, float x) {
  return a.softcap != 0.0f ? a.softcap * tanhf(x / a.softcap) : x;
}

// acc[r] += sum over the 32 columns of bc[row r] . lane_tile[lane]: bc is a broadcast tile (every lane reads
// the same row, 4 floats at a time), lane_tile a padded one read along the lane's own row.
__device__ __forceinline__ void dot_rows(const float* bc, const float* lane_tile, int warp, int lane, float (&acc)[kRows]) {
#pragma unroll
  for (int d = 0; d < kTile; d += 4) {
    const float* own = lane_tile + lane * kPad + d;
    const float x0 = own[0], x1 = own[1], x2 = own[2], x3 = own[3];
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      const float4 y = *reinterpret_cast<const float4*>(bc + (warp * kRows + r) * kTile + d);
      acc[r] = fmaf(y.x, x0, acc[r]);
      acc[r] = fmaf(y.y, x1, acc[r]);
      acc[r] = fmaf(y.z, x2, acc[r]);
      acc[r] = fmaf(y.w, x3, acc[r]);
    }
  }
}

// A block's task: a tile (of queries or keys), a unit (batch * heads + head) and a column chunk starting at
// c0. The tile is outermost and numbered so that the blocks with the most work under a causal mask come
// first (the callers reverse query tiles; key tile 0 sees the most queries), which keeps the grid's tail short.
struct Task {
  int64_t tile, unit, c0;
};

__device__ __forceinline__ Task task_of(int64_t t, int64_t units, int64_t chunks, int dv) {
  const int64_t inner = units * chunks, rem = t % inner;
  return {t / inner, rem / chunks, (rem % chunks) * dv};
}

// ---------------------------------------------------------------------------------------------------------
// Forward. Tensor cores (mma.sync tf32 or bf16, fp32 accumulation) replace dot_rows and the P V loop: that
// step changes the warp layout (16-row fragments instead of a lane per key) and the shared-memory tile
// layouts with it; the softmax and the skip rule stay as they are.
template <int DV>
__global__ void __launch_bounds__(kThreads) forward_kernel(AttentionArgs a, float* out, float* lse, int64_t qblocks,
                                                           int64_t chunks) {
  constexpr int kCols = DV / kTile;
  constexpr int kDot = kTileFloats + kPadFloats, kAcc = kTile * DV;
  __shared__ __align__(16) float smem[kDot > kAcc ? kDot : kAcc];
  float* qs = smem;                // [32 queries][32] broadcast
  float* ks = smem + kTileFloats;  // [32 keys][33] a row per lane
  float* vs = smem;                // [32 keys][DV] after the scores
  const int lane = threadIdx.x % kWarpSize, warp = threadIdx.x / kWarpSize;
  const int64_t D = a.head_dim, H = a.q_heads, group = a.q_heads / a.kv_heads;
  const int64_t tasks = qblocks * a.batch * H * chunks;
  for (int64_t t = blockIdx.x; t < tasks; t += gridDim.x) {
    const Task task = task_of(t, a.batch * H, chunks, DV);
    const int64_t b = task.unit / H, h = task.unit % H, kvh = h / group, c0 = task.c0;
    const int64_t i0 = (qblocks - 1 - task.tile) * kTile, nq = min(static_cast<int64_t>(kTile), a.tq - i0);
    const int64_t kend = key_end(a, i0 + nq), kbegin = key_begin(a, i0);
    const float* q = a.q + (b * a.tq + i0) * a.q_stride + h * D;
    const float* k = a.k + b * a.tk * a.k_stride + kvh * D;
    const float* v = a.v + b * a.tk * a.v_stride + kvh * D;
    const int32_t* km = a.key_mask ? a.key_mask + b * a.tk : nullptr;

    float m[kRows], l[kRows], o[kRows][kCols];
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      m[r] = kNegInf, l[r] = 0.0f;
#pragma unroll
      for (int cc = 0; cc < kCols; ++cc) o[r][cc] = 0.0f;
    }

    for (int64_t j0 = kbegin; j0 < kend; j0 += kTile) {
      const int64_t nk = min(static_cast<int64_t>(kTile), kend - j0), j = j0 + lane;
      float s[kRows];
#pragma unroll
      for (int r = 0; r < kRows; ++r) s[r] = 0.0f;
      for (int64_t d0 = 0; d0 < D; d0 += kTile) {
        __syncthreads();  // the previous readers of smem are done
        stage<kTile>(qs, kTile, q + d0, a.q_stride, nq, D - d0);
        stage<kTile>(ks, kPad, k + j0 * a.k_stride + d0, a.k_stride, nk, D - d0);
        __syncthreads();
        dot_rows(qs, ks, warp, lane, s);
      }
      __syncthreads();  // V replaces Q and K
      stage<DV>(vs, DV, v + j0 * a.v_stride + c0, a.v_stride, nk, D - c0);

      // Online softmax, a row per warp step; `seen` has a bit per key of the tile that this row adds.
      const bool key_ok = lane < nk && (km == nullptr || km[j] != 0);
      float p[kRows];
      unsigned seen[kRows];
#pragma unroll
      for (int r = 0; r < kRows; ++r) {
        const int64_t i = i0 + warp * kRows + r;
        const bool visible = key_ok && i < a.tq && causal_ok(a, i, j);
        const float sc = visible ? capped(a, a.scale * s[r]) : kNegInf;
        seen[r] = __ballot_sync(kFullMask, sc != kNegInf);  // a score of -inf adds nothing, as on the CPU
        const float m_new = nan_max(m[r], warp_max(sc));
        p[r] = 0.0f;
        if (m_new == kNegInf) continue;  // nothing seen yet (the same on every lane)
        const float alpha = expf(m[r] - m_new);  // 0 while m[r] is -inf; NaN once a NaN is seen
        p[r] = sc != kNegInf ? expf(sc - m_new) : 0.0f;
        l[r] = l[r] * alpha + warp_sum(p[r]);
        m[r] = m_new;
#pragma unroll
        for (int cc = 0; cc < kCols; ++cc) o[r][cc] *= alpha;
      }
      __syncthreads();
      for (int jj = 0; jj < static_cast<int>(nk); ++jj) {
        float vv[kCols];
#pragma unroll
        for (int cc = 0; cc < kCols; ++cc) vv[cc] = vs[jj * DV + cc * kTile + lane];
#pragma unroll
        for (int r = 0; r < kRows; ++r) {
          if (!((seen[r] >> jj) & 1u)) continue;  // hidden: skipped, never 0 * v
          const float pj = __shfl_sync(kFullMask, p[r], jj);
#pragma unroll
          for (int cc = 0; cc < kCols; ++cc) o[r][cc] = fmaf(pj, vv[cc], o[r][cc]);
        }
      }
    }

#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      const int64_t i = i0 + warp * kRows + r;
      if (i >= a.tq) continue;
      const bool any = !(m[r] == kNegInf);
      float* dst = out + ((b * a.tq + i) * H + h) * D + c0;
#pragma unroll
      for (int cc = 0; cc < kCols; ++cc) {
        const int c = cc * kTile + lane;
        if (c0 + c < D) dst[c] = any ? o[r][cc] / l[r] : 0.0f;
      }
      if (c0 == 0 && lane == 0) lse[(b * H + h) * a.tq + i] = any ? m[r] + logf(l[r]) : kNegInf;
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Backward.

// delta[row] = dout[row] . out[row] for the packed [B * tq * q_heads, D] rows, a warp per row.
__global__ void __launch_bounds__(kThreads) delta_kernel(const float* out, const float* dout, int64_t rows, int64_t D,
                                                         float* delta) {
  const int lane = threadIdx.x % kWarpSize;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * kWarps;
  for (int64_t row = static_cast<int64_t>(blockIdx.x) * kWarps + threadIdx.x / kWarpSize; row < rows; row += warps) {
    float sum = 0.0f;
    for (int64_t c = lane; c < D; c += kWarpSize) sum = fmaf(out[row * D + c], dout[row * D + c], sum);
    sum = warp_sum(sum);
    if (lane == 0) delta[row] = sum;
  }
}

// dk and dv of 32 keys (a row per warp step, 8 per warp) and up to DV columns: every query head of the group,
// every query that can see the block, a lane per query of a 32-query tile. Tensor cores: the two dot products
// (K Q^T, V dO^T) and the two accumulations (P^T dO, dS^T Q).
template <int DV>
__global__ void __launch_bounds__(kThreads) dkdv_kernel(AttentionArgs a, const float* lse, const float* dout,
                                                        const float* delta, float* dk, int64_t dk_stride, float* dv,
                                                        int64_t dv_stride, int64_t kblocks, int64_t chunks) {
  constexpr int kCols = DV / kTile;
  constexpr int kDot = 2 * kTileFloats + 2 * kPadFloats, kAcc = 2 * kTile * DV;
  __shared__ __align__(16) float smem[kDot > kAcc ? kDot : kAcc];
  float* ks = smem;                    // [32 keys][32] broadcast
  float* vs = ks + kTileFloats;        // [32 keys][32] broadcast
  float* qs = vs + kTileFloats;        // [32 queries][33] a row per lane
  float* gs = qs + kPadFloats;         // [32 queries][33] dout, a row per lane
  float* qa = smem;                    // [32 queries][DV] for the accumulation
  float* ga = smem + kTile * DV;       // [32 queries][DV] dout for the accumulation
  const int lane = threadIdx.x % kWarpSize, warp = threadIdx.x / kWarpSize;
  const int64_t D = a.head_dim, H = a.q_heads, group = a.q_heads / a.kv_heads, offset = a.tk - a.tq;
  const int64_t tasks = kblocks * a.batch * a.kv_heads * chunks;
  for (int64_t t = blockIdx.x; t < tasks; t += gridDim.x) {
    const Task task = task_of(t, a.batch * a.kv_heads, chunks, DV);
    const int64_t b = task.unit / a.kv_heads, kvh = task.unit % a.kv_heads, c0 = task.c0;
    const int64_t j0 = task.tile * kTile, nk = min(static_cast<int64_t>(kTile), a.tk - j0);
    const float* k = a.k + (b * a.tk + j0) * a.k_stride + kvh * D;
    const float* v = a.v + (b * a.tk + j0) * a.v_stride + kvh * D;

    bool key_ok[kRows];
    float acc_dk[kRows][kCols], acc_dv[kRows][kCols];
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      const int row = warp * kRows + r;
      key_ok[r] = row < nk && (a.key_mask == nullptr || a.key_mask[b * a.tk + j0 + row] != 0);
#pragma unroll
      for (int cc = 0; cc < kCols; ++cc) acc_dk[r][cc] = 0.0f, acc_dv[r][cc] = 0.0f;
    }
    // Causal: queries before j0 - offset see none of these keys.
    const int64_t first_query = a.causal ? max(static_cast<int64_t>(0), j0 - offset) : 0;
    // Sliding window: queries from last_query on see none of these keys.
    const int64_t last_query = query_end(a, j0 + nk);

    for (int64_t h = kvh * group; h < (kvh + 1) * group; ++h) {
      for (int64_t i0 = first_query; i0 < last_query; i0 += kTile) {
        const int64_t nq = min(static_cast<int64_t>(kTile), a.tq - i0), i = i0 + lane;
        const float L = lane < nq ? lse[(b * H + h) * a.tq + i] : kNegInf;
        const float di = lane < nq ? delta[(b * a.tq + i) * H + h] : 0.0f;
        const float* q = a.q + (b * a.tq + i0) * a.q_stride + h * D;
        const float* g = dout + ((b * a.tq + i0) * H + h) * D;
        float s[kRows], dp[kRows];
#pragma unroll
        for (int r = 0; r < kRows; ++r) s[r] = 0.0f, dp[r] = 0.0f;
        for (int64_t d0 = 0; d0 < D; d0 += kTile) {
          __syncthreads();
          stage<kTile>(ks, kTile, k + d0, a.k_stride, nk, D - d0);
          stage<kTile>(vs, kTile, v + d0, a.v_stride, nk, D - d0);
          stage<kTile>(qs, kPad, q + d0, a.q_stride, nq, D - d0);
          stage<kTile>(gs, kPad, g + d0, H * D, nq, D - d0);
          __syncthreads();
          dot_rows(ks, qs, warp, lane, s);
          dot_rows(vs, gs, warp, lane, dp);
        }
        __syncthreads();  // the accumulation tiles replace the dot tiles
        stage<DV>(qa, DV, q + c0, a.q_stride, nq, D - c0);
        stage<DV>(ga, DV, g + c0, H * D, nq, D - c0);

        // p = exp(s - lse) and dS = scale p (dp - delta) for each (key row, query lane) the query sees; a
        // query with lse -inf sees nothing and passes no gradient.
        float p[kRows], ds[kRows];
        unsigned seen[kRows];
#pragma unroll
        for (int r = 0; r < kRows; ++r) {
          const int64_t j = j0 + warp * kRows + r;
          const float sc = capped(a, a.scale * s[r]);
          // d(capped)/d(score) = 1 - tanh^2 under a soft-cap.
          const float slope = a.softcap != 0.0f ? 1.0f - (sc / a.softcap) * (sc / a.softcap) : 1.0f;
          const bool use = key_ok[r] && lane < nq && L != kNegInf && causal_ok(a, i, j) && sc != kNegInf;
          seen[r] = __ballot_sync(kFullMask, use);
          p[r] = use ? expf(sc - L) : 0.0f;
          ds[r] = use ? a.scale * p[r] * (dp[r] - di) * slope : 0.0f;
        }
        __syncthreads();
        for (int ii = 0; ii < static_cast<int>(nq); ++ii) {
          float qv[kCols], gv[kCols];
#pragma unroll
          for (int cc = 0; cc < kCols; ++cc) qv[cc] = qa[ii * DV + cc * kTile + lane], gv[cc] = ga[ii * DV + cc * kTile + lane];
#pragma unroll
          for (int r = 0; r < kRows; ++r) {
            if (!((seen[r] >> ii) & 1u)) continue;  // hidden: skipped, never 0 * x
            const float pi = __shfl_sync(kFullMask, p[r], ii), dsi = __shfl_sync(kFullMask, ds[r], ii);
#pragma unroll
            for (int cc = 0; cc < kCols; ++cc) {
              acc_dv[r][cc] = fmaf(pi, gv[cc], acc_dv[r][cc]);
              acc_dk[r][cc] = fmaf(dsi, qv[cc], acc_dk[r][cc]);
            }
          }
        }
      }
    }

#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      const int row = warp * kRows + r;
      if (row >= nk) continue;
      float* dkr = dk + (b * a.tk + j0 + row) * dk_stride + kvh * D + c0;
      float* dvr = dv + (b * a.tk + j0 + row) * dv_stride + kvh * D + c0;
#pragma unroll
      for (int cc = 0; cc < kCols; ++cc) {
        const int c = cc * kTile + lane;
        if (c0 + c < D) dkr[c] = acc_dk[r][cc], dvr[c] = acc_dv[r][cc];
      }
    }
  }
}

// dq of 32 queries (a row per warp step) and up to DV columns over the keys they can see, a lane per key.
// Tensor cores: the dot products (Q K^T, dO V^T) and dS K.
template <int DV>
__global__ void __launch_bounds__(kThreads) dq_kernel(AttentionArgs a, const float* lse, const float* dout,
                                                      const float* delta, float* dq, int64_t dq_stride, int64_t qblocks,
                                                      int64_t chunks) {
  constexpr int kCols = DV / kTile;
  constexpr int kDot = 2 * kTileFloats + 2 * kPadFloats, kAcc = kTile * DV;
  __shared__ __align__(16) float smem[kDot > kAcc ? kDot : kAcc];
  float* qs = smem;                // [32 queries][32] broadcast
  float* gs = qs + kTileFloats;    // [32 queries][32] dout, broadcast
  float* ks = gs + kTileFloats;    // [32 keys][33] a row per lane
  float* vs = ks + kPadFloats;     // [32 keys][33] a row per lane
  float* ka = smem;                // [32 keys][DV] for the accumulation
  const int lane = threadIdx.x % kWarpSize, warp = threadIdx.x / kWarpSize;
  const int64_t D = a.head_dim, H = a.q_heads, group = a.q_heads / a.kv_heads;
  const int64_t tasks = qblocks * a.batch * H * chunks;
  for (int64_t t = blockIdx.x; t < tasks; t += gridDim.x) {
    const Task task = task_of(t, a.batch * H, chunks, DV);
    const int64_t b = task.unit / H, h = task.unit % H, kvh = h / group, c0 = task.c0;
    const int64_t i0 = (qblocks - 1 - task.tile) * kTile, nq = min(static_cast<int64_t>(kTile), a.tq - i0);
    const int64_t kend = key_end(a, i0 + nq), kbegin = key_begin(a, i0);
    const float* q = a.q + (b * a.tq + i0) * a.q_stride + h * D;
    const float* g = dout + ((b * a.tq + i0) * H + h) * D;
    const float* k = a.k + b * a.tk * a.k_stride + kvh * D;
    const float* v = a.v + b * a.tk * a.v_stride + kvh * D;
    const int32_t* km = a.key_mask ? a.key_mask + b * a.tk : nullptr;

    float L[kRows], di[kRows], acc[kRows][kCols];
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      const int64_t i = i0 + warp * kRows + r;
      L[r] = i < a.tq ? lse[(b * H + h) * a.tq + i] : kNegInf;
      di[r] = i < a.tq ? delta[(b * a.tq + i) * H + h] : 0.0f;
#pragma unroll
      for (int cc = 0; cc < kCols; ++cc) acc[r][cc] = 0.0f;
    }

    for (int64_t j0 = kbegin; j0 < kend; j0 += kTile) {
      const int64_t nk = min(static_cast<int64_t>(kTile), kend - j0), j = j0 + lane;
      float s[kRows], dp[kRows];
#pragma unroll
      for (int r = 0; r < kRows; ++r) s[r] = 0.0f, dp[r] = 0.0f;
      for (int64_t d0 = 0; d0 < D; d0 += kTile) {
        __syncthreads();
        stage<kTile>(qs, kTile, q + d0, a.q_stride, nq, D - d0);
        stage<kTile>(gs, kTile, g + d0, H * D, nq, D - d0);
        stage<kTile>(ks, kPad, k + j0 * a.k_stride + d0, a.k_stride, nk, D - d0);
        stage<kTile>(vs, kPad, v + j0 * a.v_stride + d0, a.v_stride, nk, D - d0);
        __syncthreads();
        dot_rows(qs, ks, warp, lane, s);
        dot_rows(gs, vs, warp, lane, dp);
      }
      __syncthreads();  // the key tile for the accumulation replaces the dot tiles
      stage<DV>(ka, DV, k + j0 * a.k_stride + c0, a.k_stride, nk, D - c0);

      const bool key_ok = lane < nk && (km == nullptr || km[j] != 0);
      float ds[kRows];
      unsigned seen[kRows];
#pragma unroll
      for (int r = 0; r < kRows; ++r) {
        const int64_t i = i0 + warp * kRows + r;
        const float sc = capped(a, a.scale * s[r]);
        const float slope = a.softcap != 0.0f ? 1.0f - (sc / a.softcap) * (sc / a.softcap) : 1.0f;
        const bool use = key_ok && i < a.tq && L[r] != kNegInf && causal_ok(a, i, j) && sc != kNegInf;
        seen[r] = __ballot_sync(kFullMask, use);
        ds[r] = use ? a.scale * expf(sc - L[r]) * (dp[r] - di[r]) * slope : 0.0f;
      }
      __syncthreads();
      for (int jj = 0; jj < static_cast<int>(nk); ++jj) {
        float kv[kCols];
#pragma unroll
        for (int cc = 0; cc < kCols; ++cc) kv[cc] = ka[jj * DV + cc * kTile + lane];
#pragma unroll
        for (int r = 0; r < kRows; ++r) {
          if (!((seen[r] >> jj) & 1u)) continue;  // hidden: skipped, never 0 * k
          const float dsj = __shfl_sync(kFullMask, ds[r], jj);
#pragma unroll
          for (int cc = 0; cc < kCols; ++cc) acc[r][cc] = fmaf(dsj, kv[cc], acc[r][cc]);
        }
      }
    }

#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      const int64_t i = i0 + warp * kRows + r;
      if (i >= a.tq) continue;
      float* dst = dq + (b * a.tq + i) * dq_stride + h * D + c0;
#pragma unroll
      for (int cc = 0; cc < kCols; ++cc) {
        const int c = cc * kTile + lane;
        if (c0 + c < D) dst[c] = acc[r][cc];
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Host side.

int64_t ceil_div(int64_t n, int64_t d) { return (n + d - 1) / d; }

unsigned int blocks_for(int64_t tasks) { return static_cast<unsigned int>(tasks < kMaxGrid ? tasks : kMaxGrid); }

// The accumulator width (output columns a block owns) for a head_dim: the smallest of 32, 64, 128 that
// holds it, 128 with several column chunks beyond.
template <class F>
bool with_width(int64_t head_dim, F&& f) {
  if (head_dim <= 32) return f(std::integral_constant<int, 32>());
  if (head_dim <= 64) return f(std::integral_constant<int, 64>());
  return f(std::integral_constant<int, 128>());
}

// The kernels trust their arguments (the binding checks them); these are the ones that would divide by zero.
bool valid_heads(const AttentionArgs& a, const char* op, std::string* error) {
  if (a.kv_heads > 0 && a.q_heads % a.kv_heads == 0 && a.head_dim > 0) return true;
  if (error)
    *error = std::string(op) + ": kv_heads must be at least 1 and divide q_heads, and head_dim at least 1 (got q_heads " +
             std::to_string(a.q_heads) + ", kv_heads " + std::to_string(a.kv_heads) + ", head_dim " +
             std::to_string(a.head_dim) + ")";
  return false;
}

}  // namespace

bool attention_forward(const AttentionArgs& a, float* out, float* lse, std::string* error) {
  if (a.batch == 0 || a.tq == 0 || a.q_heads == 0) return true;
  if (!valid_heads(a, "attention_forward", error)) return false;
  return with_width(a.head_dim, [&](auto width) {
    constexpr int DV = decltype(width)::value;
    const int64_t qblocks = ceil_div(a.tq, kTile), chunks = ceil_div(a.head_dim, DV);
    const int64_t tasks = qblocks * a.batch * a.q_heads * chunks;
    forward_kernel<DV><<<blocks_for(tasks), kThreads, 0, detail::stream()>>>(a, out, lse, qblocks, chunks);
    return detail::launched("attention_forward", error);
  });
}

bool attention_backward(const AttentionArgs& a, const float* out, const float* lse, const float* dout, float* dq,
                        int64_t dq_stride, float* dk, int64_t dk_stride, float* dv, int64_t dv_stride, std::string* error) {
  if (a.batch == 0 || a.kv_heads == 0) return true;
  if (!valid_heads(a, "attention_backward", error)) return false;
  const int64_t rows = a.batch * a.tq * a.q_heads;
  float* delta = nullptr;
  if (rows > 0) {
    delta = static_cast<float*>(alloc_async(static_cast<size_t>(rows) * sizeof(float), error));
    if (delta == nullptr) return false;
    delta_kernel<<<blocks_for(ceil_div(rows, kWarps)), kThreads, 0, detail::stream()>>>(out, dout, rows, a.head_dim,
                                                                                          delta);
  }
  bool ok = rows == 0 || detail::launched("attention_backward (delta)", error);
  if (ok) {
    ok = with_width(a.head_dim, [&](auto width) {
      constexpr int DV = decltype(width)::value;
      const int64_t chunks = ceil_div(a.head_dim, DV);
      // dk, dv: every key block, also those no query reaches (they get zeros, as on the CPU).
      const int64_t kblocks = ceil_div(a.tk, kTile), key_tasks = kblocks * a.batch * a.kv_heads * chunks;
      if (key_tasks > 0) {
        dkdv_kernel<DV><<<blocks_for(key_tasks), kThreads, 0, detail::stream()>>>(a, lse, dout, delta, dk, dk_stride, dv,
                                                                                   dv_stride, kblocks, chunks);
        if (!detail::launched("attention_backward (dk, dv)", error)) return false;
      }
      const int64_t qblocks = ceil_div(a.tq, kTile), query_tasks = qblocks * a.batch * a.q_heads * chunks;
      if (query_tasks > 0) {
        dq_kernel<DV><<<blocks_for(query_tasks), kThreads, 0, detail::stream()>>>(a, lse, dout, delta, dq, dq_stride,
                                                                                  qblocks, chunks);
        if (!detail::launched("attention_backward (dq)", error)) return false;
      }
      return true;
    });
  }
  // Stream-ordered: released once the kernels that read it are done.
  const bool freed = free_async(delta, ok ? error : nullptr);
  return ok && freed;
}

}  // namespace cuda
}  // namespace peftjs
