// The fused LoRA linear layer on the GPU, with the semantics of csrc/kernels/lora/lora.cc:
//   forward:  u = drop(x) A^T [T, r];  y = x W^T + bias + s u B^T   (W null: y already holds the base part)
//   backward: g = s dy B [T, r];  dB = s dy^T u [N, r];  dbias = colsum(dy);  dA = g^T drop(x) [r, K];
//             dx = dy W + mask * (g A)   (W null: only the adapter term is added onto dx)
// The big products (x W^T, dy W) go through cuda::gemm. The rank-r products are skinny, so each gets a
// small kernel of its own, with the dropout mask regenerated inline from the counter RNG (a device twin of
// csrc/kernels/random's Philox4x32-10): drop(x) is never stored.
//   project:     out[t, j] = post * sum_c x'[t, c] R(j, c)     u (R = A) and g (R = B, x' = dy): a block
//                per 4 rows, its threads striding over the columns, a fixed shuffle tree to finish.
//   rank_update: out[t, c] += f(t, c) * sum_j (ls L[t, j]) R(j, c)   s u B^T onto y, mask * (g A) onto dx:
//                a thread per column of 16 rows, the rows' r values staged in shared memory.
//   outer:       out(j, c) = post * sum_t v[t, j] x'[t, c]   dB (x' = dy, v = u; dbias alongside) and dA
//                (x' = drop(x), v = g): sums over T, as a two-stage fixed-order reduction (contiguous row
//                chunks, a thread per column per chunk, then the chunks added in order): no atomics, the
//                same bits every run.
// The rank is taken 16 at a time (kRankChunk accumulators per thread), so any r works. Sums are float32,
// as on the CPU, in a different order: results agree to float32 rounding, not bit for bit.
#include <cuda_runtime.h>

#include <algorithm>

#include "common.cuh"
#include "philox.cuh"
#include "device_api.h"

namespace peftjs {
namespace cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr int kRankChunk = 16;   // rank values a thread accumulates at once
constexpr int kProjRows = 4;     // rows of a project block (kProjRows x kRankChunk sums per thread)
constexpr int kUpdRows = 16;     // rows of a rank_update block
constexpr int kOuterRows = 16;   // rows of v staged at a time by the outer kernel
constexpr int64_t kMaxGridY = 65535;
static_assert(kUpdRows * kRankChunk == kThreads && kOuterRows * kRankChunk == kThreads,
              "one staged value per thread");
static_assert(kProjRows * kRankChunk <= kThreads, "one output per thread in the project epilogue");

// Two-stage reductions over T: chunks of at least kMinChunkRows rows, at most kMaxChunks of them, and at most
// kPartialBudget floats of partials. The split depends on the sizes only, so the result is reproducible.
constexpr int64_t kMinChunkRows = 64;
constexpr int64_t kMaxChunks = 64;
constexpr int64_t kPartialBudget = int64_t{1} << 24;

// ---- Dropout: csrc/kernels/random bit for bit ----

// dropout.h's dropout_factor for element (t, c) of a [rows, cols] batch slice starting at row_offset:
// stream index (row_offset + t) * cols + c, kept when its uniform (top 24 bits, exact in float) is >= p.
struct Mask {
  uint64_t seed = 0;
  int64_t row_offset = 0;
  int64_t cols = 0;
  float p = 0.0f;
  float keep_scale = 1.0f;

  __device__ __forceinline__ float factor(int64_t t, int64_t c) const {
    const uint64_t index = static_cast<uint64_t>(row_offset + t) * static_cast<uint64_t>(cols) + static_cast<uint64_t>(c);
    const uint32_t bits = detail::philox_word(index, seed);
    return static_cast<float>(bits >> 8) * (1.0f / 16777216.0f) >= p ? keep_scale : 0.0f;
  }
};

Mask make_mask(float p, uint64_t seed, int64_t row_offset, int64_t cols) {
  Mask m;
  m.seed = seed, m.row_offset = row_offset, m.cols = cols, m.p = p;
  m.keep_scale = 1.0f / (1.0f - p);  // as dropout.cc computes it, in float
  return m;
}

// x'[t, c]: the element, times its dropout factor when the mask applies (a rounded product, as the CPU's
// dropped buffer holds it).
template <bool kDrop>
__device__ __forceinline__ float masked(const Mask& m, float v, int64_t t, int64_t c) {
  if constexpr (kDrop) return __fmul_rn(v, m.factor(t, c));
  else return v;
}

// R(j, c), the rank-side operand: A [r, cols] (kRankMajor) or B [cols, r].
template <bool kRankMajor>
__device__ __forceinline__ float rank_at(const float* m, int64_t r, int64_t cols, int64_t j, int64_t c) {
  return kRankMajor ? m[j * cols + c] : m[c * r + j];
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

// ---- project: out[t, j] = post * sum_c x'[t, c] R(j, c), out [rows, r] ----
// Block (row group, rank chunk). Each thread sums a strided slice of the columns for kProjRows rows and
// kRankChunk ranks; the slices meet in a shuffle tree per warp and the warps in order.
template <bool kDrop, bool kRankMajor>
__global__ void __launch_bounds__(kThreads) project_kernel(const float* x, int64_t rows, int64_t cols, const float* rm,
                                                           int64_t r, float post, Mask mask, float* out) {
  __shared__ float partial[kWarps][kProjRows * kRankChunk];
  const int64_t j0 = static_cast<int64_t>(blockIdx.y) * kRankChunk;
  const int jn = static_cast<int>(min(static_cast<int64_t>(kRankChunk), r - j0));
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  for (int64_t t0 = static_cast<int64_t>(blockIdx.x) * kProjRows; t0 < rows; t0 += static_cast<int64_t>(gridDim.x) * kProjRows) {
    const int tn = static_cast<int>(min(static_cast<int64_t>(kProjRows), rows - t0));
    float acc[kProjRows][kRankChunk];
#pragma unroll
    for (int i = 0; i < kProjRows; ++i)
#pragma unroll
      for (int j = 0; j < kRankChunk; ++j) acc[i][j] = 0.0f;
    for (int64_t c = threadIdx.x; c < cols; c += kThreads) {
      float rv[kRankChunk];
#pragma unroll
      for (int j = 0; j < kRankChunk; ++j) rv[j] = j < jn ? rank_at<kRankMajor>(rm, r, cols, j0 + j, c) : 0.0f;
#pragma unroll
      for (int i = 0; i < kProjRows; ++i) {
        if (i >= tn) break;
        const float xv = masked<kDrop>(mask, x[(t0 + i) * cols + c], t0 + i, c);
#pragma unroll
        for (int j = 0; j < kRankChunk; ++j) acc[i][j] = fmaf(xv, rv[j], acc[i][j]);
      }
    }
#pragma unroll
    for (int i = 0; i < kProjRows; ++i)
#pragma unroll
      for (int j = 0; j < kRankChunk; ++j) {
        const float v = warp_sum(acc[i][j]);
        if (lane == 0) partial[warp][i * kRankChunk + j] = v;
      }
    __syncthreads();
    if (threadIdx.x < kProjRows * kRankChunk) {
      const int i = threadIdx.x / kRankChunk, j = threadIdx.x % kRankChunk;
      if (i < tn && j < jn) {
        float s = partial[0][threadIdx.x];
#pragma unroll
        for (int w = 1; w < kWarps; ++w) s += partial[w][threadIdx.x];
        out[(t0 + i) * r + j0 + j] = __fmul_rn(s, post);  // the CPU scales g after the sum (post = 1 for u)
      }
    }
    __syncthreads();  // partial is refilled by the next row group
  }
}

// ---- rank_update: out[t, c] += f(t, c) * sum_j (ls L[t, j]) R(j, c), L [rows, r], out [rows, cols] ----
// Block (column block, row group): a thread per column, kUpdRows rows, the rows' L values staged 16 ranks
// at a time in shared memory (already multiplied by ls, as the CPU packs s u). The masked sum is rounded
// before it is added, as dropout_accumulate does.
template <bool kDrop, bool kRankMajor>
__global__ void __launch_bounds__(kThreads) rank_update_kernel(const float* lhs, float ls, const float* rm, int64_t r,
                                                               int64_t rows, int64_t cols, Mask mask, float* out) {
  __shared__ float staged[kUpdRows][kRankChunk];
  const int64_t c = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x;
  const bool in = c < cols;
  const int si = threadIdx.x / kRankChunk, sj = threadIdx.x % kRankChunk;
  for (int64_t t0 = static_cast<int64_t>(blockIdx.y) * kUpdRows; t0 < rows; t0 += static_cast<int64_t>(gridDim.y) * kUpdRows) {
    const int tn = static_cast<int>(min(static_cast<int64_t>(kUpdRows), rows - t0));
    float acc[kUpdRows];
#pragma unroll
    for (int i = 0; i < kUpdRows; ++i) acc[i] = 0.0f;
    for (int64_t j0 = 0; j0 < r; j0 += kRankChunk) {
      const int jn = static_cast<int>(min(static_cast<int64_t>(kRankChunk), r - j0));
      staged[si][sj] = si < tn && sj < jn ? __fmul_rn(ls, lhs[(t0 + si) * r + j0 + sj]) : 0.0f;
      __syncthreads();
      if (in) {
#pragma unroll
        for (int j = 0; j < kRankChunk; ++j) {
          if (j >= jn) break;
          const float rv = rank_at<kRankMajor>(rm, r, cols, j0 + j, c);
#pragma unroll
          for (int i = 0; i < kUpdRows; ++i) acc[i] = fmaf(staged[i][j], rv, acc[i]);
        }
      }
      __syncthreads();  // staged is refilled by the next rank chunk
    }
    if (in) {
#pragma unroll
      for (int i = 0; i < kUpdRows; ++i) {
        if (i >= tn) break;
        float* o = out + (t0 + i) * cols + c;
        *o = __fadd_rn(*o, masked<kDrop>(mask, acc[i], t0 + i, c));
      }
    }
  }
}

// ---- outer: the first stage of out(j, c) = post * sum_t v[t, j] x'[t, c] ----
// Block (column block, row chunk, rank chunk): a thread per column sums the chunk's rows in order. The chunk's
// result goes to part + chunk * part_stride, laid out [r, cols] (kRankMajor, dA) or [cols, r] (dB); with
// colsum set the rank chunk 0 blocks also write the column sums of x (dbias) to colsum + chunk * cols.
template <bool kDrop, bool kRankMajor>
__global__ void __launch_bounds__(kThreads) outer_kernel(const float* x, int64_t rows, int64_t cols, const float* v,
                                                         int64_t r, int64_t chunk_rows, Mask mask, float post, float* part,
                                                         int64_t part_stride, float* colsum) {
  __shared__ float staged[kOuterRows][kRankChunk];
  const int64_t c = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x;
  const int64_t chunk = blockIdx.y;
  const int64_t j0 = static_cast<int64_t>(blockIdx.z) * kRankChunk;
  const int jn = static_cast<int>(min(static_cast<int64_t>(kRankChunk), r - j0));
  const bool in = c < cols;
  const bool sums = colsum != nullptr && blockIdx.z == 0;
  const int si = threadIdx.x / kRankChunk, sj = threadIdx.x % kRankChunk;
  const int64_t t_end = min(rows, (chunk + 1) * chunk_rows);
  float acc[kRankChunk];
#pragma unroll
  for (int j = 0; j < kRankChunk; ++j) acc[j] = 0.0f;
  float cs = 0.0f;
  for (int64_t t0 = chunk * chunk_rows; t0 < t_end; t0 += kOuterRows) {
    const int tn = static_cast<int>(min(static_cast<int64_t>(kOuterRows), t_end - t0));
    staged[si][sj] = si < tn && sj < jn ? v[(t0 + si) * r + j0 + sj] : 0.0f;
    __syncthreads();
    if (in) {
      for (int i = 0; i < tn; ++i) {
        const float raw = x[(t0 + i) * cols + c];
        if (sums) cs += raw;
        const float xv = masked<kDrop>(mask, raw, t0 + i, c);
#pragma unroll
        for (int j = 0; j < kRankChunk; ++j) acc[j] = fmaf(staged[i][j], xv, acc[j]);
      }
    }
    __syncthreads();  // staged is refilled by the next rows
  }
  if (!in) return;
  float* o = part + chunk * part_stride;
#pragma unroll
  for (int j = 0; j < kRankChunk; ++j) {
    if (j >= jn) break;
    o[kRankMajor ? (j0 + j) * cols + c : c * r + j0 + j] = __fmul_rn(acc[j], post);
  }
  if (sums) colsum[chunk * cols + c] = cs;
}

// The second stage: out[i] = post * sum_chunk part[chunk * size + i], the chunks in order. With no chunks
// (T = 0) out is post * 0, as the CPU's zeroed-then-scaled result.
__global__ void sum_chunks_kernel(const float* part, int64_t chunks, int64_t size, float post, float* out) {
  for (int64_t i = detail::first_index(); i < size; i += detail::grid_stride()) {
    float s = 0.0f;
    for (int64_t q = 0; q < chunks; ++q) s += part[q * size + i];
    out[i] = __fmul_rn(s, post);
  }
}

// ---- launches ----

bool refuse(std::string* error, const std::string& message) {
  if (error) *error = message;
  return false;
}

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// The rank chunks as a grid dimension (y or z, at most 65535).
bool rank_chunks(int64_t r, const char* what, unsigned int* out, std::string* error) {
  const int64_t chunks = ceil_div(r, kRankChunk);
  if (r < 1 || chunks > kMaxGridY)
    return refuse(error, std::string(what) + ": rank r = " + std::to_string(r) + " is outside [1, " +
                             std::to_string(kMaxGridY * kRankChunk) + "]");
  *out = static_cast<unsigned int>(chunks);
  return true;
}

bool column_blocks(int64_t cols, const char* what, unsigned int* out, std::string* error) {
  const int64_t blocks = ceil_div(cols, kThreads);
  if (blocks > 0x7fffffff) return refuse(error, std::string(what) + ": " + std::to_string(cols) + " columns is too many for one launch");
  *out = static_cast<unsigned int>(blocks);
  return true;
}

// out [rows, r] = post * x' R^T (see project_kernel); R is A [r, cols] when rank_major, else B [cols, r].
bool project(const float* x, int64_t rows, int64_t cols, const float* rm, bool rank_major, int64_t r, float post,
             const Mask* mask, float* out, const char* what, std::string* error) {
  if (rows == 0) return true;
  unsigned int rc = 0;
  if (!rank_chunks(r, what, &rc, error)) return false;
  const dim3 grid(static_cast<unsigned int>(std::min(ceil_div(rows, kProjRows), detail::kMaxBlocks)), rc);
  const Mask m = mask ? *mask : Mask{};
  cudaStream_t s = detail::stream();
  if (mask && rank_major) project_kernel<true, true><<<grid, kThreads, 0, s>>>(x, rows, cols, rm, r, post, m, out);
  else if (mask) project_kernel<true, false><<<grid, kThreads, 0, s>>>(x, rows, cols, rm, r, post, m, out);
  else if (rank_major) project_kernel<false, true><<<grid, kThreads, 0, s>>>(x, rows, cols, rm, r, post, m, out);
  else project_kernel<false, false><<<grid, kThreads, 0, s>>>(x, rows, cols, rm, r, post, m, out);
  return detail::launched(what, error);
}

// out [rows, cols] += mask * ((ls L) R) (see rank_update_kernel).
bool rank_update(const float* lhs, float ls, const float* rm, bool rank_major, int64_t r, int64_t rows, int64_t cols,
                 const Mask* mask, float* out, const char* what, std::string* error) {
  if (rows == 0 || cols == 0) return true;
  unsigned int cb = 0;
  if (!column_blocks(cols, what, &cb, error)) return false;
  const dim3 grid(cb, static_cast<unsigned int>(std::min(ceil_div(rows, kUpdRows), kMaxGridY)));
  const Mask m = mask ? *mask : Mask{};
  cudaStream_t s = detail::stream();
  if (mask && rank_major) rank_update_kernel<true, true><<<grid, kThreads, 0, s>>>(lhs, ls, rm, r, rows, cols, m, out);
  else if (mask) rank_update_kernel<true, false><<<grid, kThreads, 0, s>>>(lhs, ls, rm, r, rows, cols, m, out);
  else if (rank_major) rank_update_kernel<false, true><<<grid, kThreads, 0, s>>>(lhs, ls, rm, r, rows, cols, m, out);
  else rank_update_kernel<false, false><<<grid, kThreads, 0, s>>>(lhs, ls, rm, r, rows, cols, m, out);
  return detail::launched(what, error);
}

// How the T rows of a two-stage reduction are split: `chunks` contiguous ranges of `rows_per_chunk` (the
// last shorter). A function of the sizes only, never of the device, so the sums are reproducible anywhere.
struct ChunkPlan {
  int64_t rows_per_chunk = 1;
  int64_t chunks = 0;
};

ChunkPlan plan_chunks(int64_t rows, int64_t floats_per_chunk) {
  ChunkPlan plan;
  if (rows == 0) return plan;
  int64_t chunks = std::min(kMaxChunks, ceil_div(rows, kMinChunkRows));
  chunks = std::min(chunks, std::max<int64_t>(1, kPartialBudget / std::max<int64_t>(1, floats_per_chunk)));
  plan.rows_per_chunk = ceil_div(rows, std::max<int64_t>(1, chunks));
  plan.chunks = ceil_div(rows, plan.rows_per_chunk);
  return plan;
}

bool sum_chunks(const float* part, int64_t chunks, int64_t size, float post, float* out, const char* what,
                std::string* error) {
  if (size == 0) return true;
  sum_chunks_kernel<<<detail::grid_for(size), detail::kThreads, 0, detail::stream()>>>(part, chunks, size, post, out);
  return detail::launched(what, error);
}

// out (r x cols, [r, cols] when rank_major else [cols, r]) = post * v^T x' over all rows, and colsum [cols]
// (null: not wanted) = column sums of x; both overwritten, by a two-stage reduction over the rows.
bool reduce_outer(const float* x, int64_t rows, int64_t cols, const float* v, int64_t r, bool rank_major,
                  const Mask* mask, float post, float* out, float* colsum, const char* what, std::string* error) {
  if (cols == 0) return true;
  const int64_t size = r * cols;
  const int64_t per_chunk = size + (colsum ? cols : 0);
  const ChunkPlan plan = plan_chunks(rows, per_chunk);
  if (plan.chunks == 0)  // no rows: zeros (times post, as the CPU scales its zeroed sums)
    return sum_chunks(nullptr, 0, size, post, out, what, error) &&
           (colsum == nullptr || sum_chunks(nullptr, 0, cols, 1.0f, colsum, what, error));
  unsigned int cb = 0, rc = 0;
  if (!column_blocks(cols, what, &cb, error) || !rank_chunks(r, what, &rc, error)) return false;

  // One chunk writes the outputs directly; more write partials that the second stage adds in order.
  const bool direct = plan.chunks == 1;
  float* part = nullptr;
  if (!direct) {
    part = static_cast<float*>(alloc_async(static_cast<size_t>(plan.chunks * per_chunk) * sizeof(float), error));
    if (part == nullptr) return false;
  }
  float* part_out = direct ? out : part;
  float* part_colsum = colsum == nullptr ? nullptr : direct ? colsum : part + plan.chunks * size;
  const float stage_post = direct ? post : 1.0f;
  const dim3 grid(cb, static_cast<unsigned int>(plan.chunks), rc);
  const Mask m = mask ? *mask : Mask{};
  cudaStream_t s = detail::stream();
  const int64_t cr = plan.rows_per_chunk;
  if (mask && rank_major)
    outer_kernel<true, true><<<grid, kThreads, 0, s>>>(x, rows, cols, v, r, cr, m, stage_post, part_out, size, part_colsum);
  else if (mask)
    outer_kernel<true, false><<<grid, kThreads, 0, s>>>(x, rows, cols, v, r, cr, m, stage_post, part_out, size, part_colsum);
  else if (rank_major)
    outer_kernel<false, true><<<grid, kThreads, 0, s>>>(x, rows, cols, v, r, cr, m, stage_post, part_out, size, part_colsum);
  else
    outer_kernel<false, false><<<grid, kThreads, 0, s>>>(x, rows, cols, v, r, cr, m, stage_post, part_out, size, part_colsum);
  bool ok = detail::launched(what, error);
  if (ok && !direct) {
    ok = sum_chunks(part, plan.chunks, size, post, out, what, error) &&
         (colsum == nullptr || sum_chunks(part_colsum, plan.chunks, cols, 1.0f, colsum, what, error));
  }
  const bool freed = free_async(part, ok ? error : nullptr);
  return ok && freed;
}

}  // namespace

bool lora_forward(const LoraForwardArgs& p, std::string* error) {
  if (p.t == 0 || p.n == 0) return true;  // as the CPU: nothing is written, u included
  const Mask mask = make_mask(p.dropout, p.seed, p.row_offset, p.k);
  const Mask* drop = p.dropout > 0.0f ? &mask : nullptr;
  // u = drop(x) A^T
  if (!project(p.x, p.t, p.k, p.a, true, p.r, 1.0f, drop, p.u, "lora_forward (u = drop(x) A^T)", error)) return false;
  // y = x W^T + bias, then y += (s u) B^T; without W, y already holds the base output.
  if (p.w != nullptr) {
    GemmArgs g;
    g.trans_b = true;
    g.m = p.t, g.n = p.n, g.k = p.k;
    g.a = p.x, g.lda = p.k, g.b = p.w, g.ldb = p.k, g.c = p.y, g.ldc = p.n, g.bias = p.bias;
    if (!gemm(g, error)) return false;
  }
  return rank_update(p.u, p.scale, p.b, false, p.r, p.t, p.n, nullptr, p.y, "lora_forward (y += s u B^T)", error);
}

bool lora_backward(const LoraBackwardArgs& p, std::string* error) {
  const Mask mask = make_mask(p.dropout, p.seed, p.row_offset, p.k);
  const Mask* drop = p.dropout > 0.0f ? &mask : nullptr;
  float* g = static_cast<float*>(alloc_async(static_cast<size_t>(std::max<int64_t>(p.t * p.r, 1)) * sizeof(float), error));
  if (g == nullptr) return false;
  // g = s dy B; dB = s dy^T u with dbias = colsum(dy); dA = g^T drop(x).
  bool ok = project(p.dy, p.t, p.n, p.b, false, p.r, p.scale, nullptr, g, "lora_backward (g = s dy B)", error) &&
            reduce_outer(p.dy, p.t, p.n, p.u, p.r, false, nullptr, p.scale, p.db, p.dbias,
                         "lora_backward (dB = s dy^T u, dbias)", error) &&
            reduce_outer(p.x, p.t, p.k, g, p.r, true, drop, 1.0f, p.da, nullptr, "lora_backward (dA = g^T drop(x))", error);
  // dx = dy W, then dx += mask * (g A); without W, dx already holds the base term.
  if (ok && p.dx != nullptr) {
    if (p.w != nullptr) {
      GemmArgs d;
      d.m = p.t, d.n = p.k, d.k = p.n;
      d.a = p.dy, d.lda = p.n, d.b = p.w, d.ldb = p.k, d.c = p.dx, d.ldc = p.k;
      ok = gemm(d, error);
    }
    ok = ok && rank_update(g, 1.0f, p.a, true, p.r, p.t, p.k, drop, p.dx, "lora_backward (dx += mask * (g A))", error);
  }
  const bool freed = free_async(g, ok ? error : nullptr);
  return ok && freed;
}

}  // namespace cuda
}  // namespace peftjs
