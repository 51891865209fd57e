// Single-precision GEMM on row-major matrices with the semantics of csrc/kernels/gemm/gemm.cc:
//   C[m, n] = alpha * sum_k op(A)[m, k] * op(B)[k, n] + beta * C[m, n] + bias[n]
// beta == 0 leaves C unread (it may hold NaN); k == 0 or alpha == 0 gives beta * C + bias.
// The rest of GemmArgs (the second K segment, col_scale, act, pre_out) is not implemented: gemm() refuses
// arguments that set it, naming the fields (gemm_support.h).
//
// Where libcublasLt is installed (found at run time, cublaslt.cu), gemm() hands the product to cuBLASLt,
// which is several times faster on tensor-core GPUs; with TF32 off (the default) it computes in float32
// as this kernel does. The kernel below runs when cuBLASLt is absent or disabled (PEFTJS_CUBLASLT=off), or
// finds no algorithm for the arguments. k == 0 or alpha == 0 never reach cuBLASLt: scale_c_kernel does
// those exactly as the CPU.
//
// A classic shared-memory tiled SGEMM: a block of 256 threads (a 16 x 16 grid) computes a BM x BN tile
// of C (128 x 128, or 64 x 64 when the big tiles would leave the GPU idle), stepping through k in slices
// of kBK = 8. Each slice of op(A) (BM x 8) and op(B) (8 x BN) is staged in shared memory, stored k-major
// (As[p][i], Bs[p][j]) with rows padded by 4 floats so that the transposing stores are free of bank
// conflicts and every row stays 16-byte aligned for float4 reads. Each thread accumulates a TM x TN
// register tile (8 x 8 or 4 x 4) made of 4 x 4 sub-tiles spaced 64 apart, so that a warp's float4 reads
// of one k row touch distinct banks. The slices are double-buffered with cp.async (sm_80+): the copies
// of the next slice stream into the other buffer while the current one is multiplied. Global reads are
// scalar (any lda / ldb / offset works) and coalesced for each of the four transpose cases; elements
// outside op(A) / op(B) (edge tiles, the k tail) are zero-filled and their results never stored.
// Offsets are int64 throughout. The 128 x 128 kernel wants ~160 registers (one block per SM); capping it
// at 128 for two blocks made ptxas spill.
#include <cuda_runtime.h>

#include "common.cuh"
#include "cublaslt.h"
#include "device_api.h"
#include "gemm_support.h"

namespace peftjs {
namespace cuda {
namespace {

constexpr int kBK = 8;              // k slice
constexpr int kGemmThreads = 256;   // 16 x 16 threads
constexpr int kMaxGridY = 65535;    // row tiles beyond this loop inside the kernel

// Asynchronous 4-byte global -> shared copies (sm_80 cp.async); a copy out of range reads nothing and
// zero-fills its shared word (src-size 0), with `gmem` then pointing at any valid address. Before sm_80
// (only if CMAKE_CUDA_ARCHITECTURES asks for it) the copies are plain loads and stores, which the same
// barriers order correctly.
__device__ __forceinline__ void cp_async_f32(float* smem, const float* gmem, bool in_range) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  const unsigned int dst = static_cast<unsigned int>(__cvta_generic_to_shared(smem));
  const unsigned int src_size = in_range ? 4u : 0u;
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(dst), "l"(gmem), "r"(src_size) : "memory");
#else
  *smem = in_range ? *gmem : 0.0f;
#endif
}
__device__ __forceinline__ void cp_async_commit() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.commit_group;\n" ::: "memory");
#endif
}
// Waits until at most N of this thread's committed groups are still pending.
template <int N>
__device__ __forceinline__ void cp_async_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
#endif
}

template <int BM, int BN, bool TA, bool TB>
__global__ void __launch_bounds__(kGemmThreads, BM >= 128 ? 1 : 2) sgemm_kernel(const GemmArgs g) {
  constexpr int TM = BM / 16, TN = BN / 16;      // register tile per thread
  constexpr int GM = TM / 4, GN = TN / 4;        // 4-wide groups, 64 rows / columns apart
  constexpr int LDA_S = BM + 4, LDB_S = BN + 4;  // padded shared rows
  constexpr int A_LOADS = BM * kBK / kGemmThreads;
  constexpr int B_LOADS = BN * kBK / kGemmThreads;
  static_assert(BM % 64 == 0 && BN % 64 == 0, "tiles are made of 64-wide thread groups");
  static_assert(A_LOADS * kGemmThreads == BM * kBK && B_LOADS * kGemmThreads == BN * kBK, "whole loads");

  __shared__ __align__(16) float As[2][kBK][LDA_S];
  __shared__ __align__(16) float Bs[2][kBK][LDB_S];

  const int tid = threadIdx.x;
  const int tr = tid / 16, tc = tid % 16;
  const int64_t m = g.m, n = g.n, k = g.k;
  const int64_t col0 = static_cast<int64_t>(blockIdx.x) * BN;
  const int64_t row_tiles = (m + BM - 1) / BM;
  const int64_t k_tiles = (k + kBK - 1) / kBK;

  // The load plan: which element of each slice this thread's loads cover, as shared-memory coordinates
  // (p = k within the slice, i / j = row / column within the tile) and as global offsets.
  //  A not transposed, stored [m, k]: 8 consecutive threads read 8 consecutive k of one row; load r is
  //    row tid / 8 + 32 r.
  //  A transposed, stored [k, m]: consecutive threads read consecutive rows for one k; load r is
  //    k tid / BM + (256 / BM) r.
  // B likewise with the roles of the two indices swapped. Load r of A reads a[a_off + r * a_step_r] and
  // is in range when r * A_ROW_R < rows_left and r * A_K_R < k_left (k_left for the slice); a_off
  // advances by a_step_k per slice. Only offsets are formed, never out-of-range pointers.
  constexpr int A_ROW_R = TA ? 0 : kGemmThreads / kBK, A_K_R = TA ? kGemmThreads / BM : 0;
  constexpr int B_COL_R = TB ? kGemmThreads / kBK : 0, B_K_R = TB ? 0 : kGemmThreads / BN;
  const int a_i0 = TA ? tid % BM : tid / kBK, a_p0 = TA ? tid / BM : tid % kBK;
  const int b_j0 = TB ? tid / kBK : tid % BN, b_p0 = TB ? tid % kBK : tid / BN;
  const int64_t a_step_r = TA ? A_K_R * g.lda : A_ROW_R * g.lda;
  const int64_t a_step_k = TA ? kBK * g.lda : kBK;
  const int64_t b_step_r = TB ? B_COL_R * g.ldb : B_K_R * g.ldb;
  const int64_t b_step_k = TB ? kBK : kBK * g.ldb;
  const int64_t b_col = col0 + b_j0;
  const int64_t cols_left = n - b_col;  // load r of B is in range when r * B_COL_R < cols_left

  for (int64_t tile_m = blockIdx.y; tile_m < row_tiles; tile_m += gridDim.y) {  // uniform per block
    const int64_t row0 = tile_m * BM;
    const int64_t a_row = row0 + a_i0;
    const int64_t rows_left = m - a_row;
    int64_t a_off = TA ? a_p0 * g.lda + a_row : a_row * g.lda + a_p0;
    int64_t b_off = TB ? b_col * g.ldb + b_p0 : b_p0 * g.ldb + b_col;

    // Issues the copies of the slice starting at k0 into shared buffer `buf` (zeros outside op(A) and
    // op(B)), then moves the offsets on to the next slice. Load r of A lands at (p, i) = (a_p0 + r * A_K_R,
    // a_i0 + r * A_ROW_R); B likewise.
    auto issue = [&](int buf, int64_t k0) {
      const int64_t a_k_left = k - k0 - a_p0, b_k_left = k - k0 - b_p0;
#pragma unroll
      for (int r = 0; r < A_LOADS; ++r) {
        const bool in = r * A_ROW_R < rows_left && r * A_K_R < a_k_left;
        cp_async_f32(&As[buf][a_p0 + r * A_K_R][a_i0 + r * A_ROW_R], in ? g.a + (a_off + r * a_step_r) : g.a, in);
      }
#pragma unroll
      for (int r = 0; r < B_LOADS; ++r) {
        const bool in = r * B_COL_R < cols_left && r * B_K_R < b_k_left;
        cp_async_f32(&Bs[buf][b_p0 + r * B_K_R][b_j0 + r * B_COL_R], in ? g.b + (b_off + r * b_step_r) : g.b, in);
      }
      cp_async_commit();
      a_off += a_step_k;
      b_off += b_step_k;
    };

    float acc[TM][TN];
#pragma unroll
    for (int i = 0; i < TM; ++i)
#pragma unroll
      for (int j = 0; j < TN; ++j) acc[i][j] = 0.0f;

    // Buffer 0 is free: the barrier that ended the previous row tile (if any) came after its last read.
    issue(0, 0);
    for (int64_t kt = 0; kt < k_tiles; ++kt) {
      const int cur = static_cast<int>(kt & 1);
      if (kt + 1 < k_tiles) {
        // The other buffer was last read in iteration kt - 1, which every thread finished before the
        // barrier that ended it. The next slice streams in while this one is multiplied.
        issue(cur ^ 1, (kt + 1) * kBK);
        cp_async_wait<1>();  // this thread's copies of slice kt have landed
      } else {
        cp_async_wait<0>();
      }
      __syncthreads();  // ... and everyone's
#pragma unroll
      for (int p = 0; p < kBK; ++p) {
        float af[TM], bf[TN];
#pragma unroll
        for (int gm = 0; gm < GM; ++gm) {
          const float4 v = *reinterpret_cast<const float4*>(&As[cur][p][gm * 64 + tr * 4]);
          af[gm * 4 + 0] = v.x, af[gm * 4 + 1] = v.y, af[gm * 4 + 2] = v.z, af[gm * 4 + 3] = v.w;
        }
#pragma unroll
        for (int gn = 0; gn < GN; ++gn) {
          const float4 v = *reinterpret_cast<const float4*>(&Bs[cur][p][gn * 64 + tc * 4]);
          bf[gn * 4 + 0] = v.x, bf[gn * 4 + 1] = v.y, bf[gn * 4 + 2] = v.z, bf[gn * 4 + 3] = v.w;
        }
#pragma unroll
        for (int i = 0; i < TM; ++i)
#pragma unroll
          for (int j = 0; j < TN; ++j) acc[i][j] = fmaf(af[i], bf[j], acc[i][j]);
      }
      __syncthreads();  // buffer `cur` is read by everyone before iteration kt + 1 refills it
    }

    // Epilogue: C = alpha * acc + beta * C + bias, in the CPU's order of operations; C is not read
    // when beta == 0.
    const float alpha = g.alpha, beta = g.beta;
#pragma unroll
    for (int gm = 0; gm < GM; ++gm) {
#pragma unroll
      for (int v = 0; v < 4; ++v) {
        const int64_t row = row0 + gm * 64 + tr * 4 + v;
        if (row >= m) continue;
        float* crow = g.c + row * g.ldc;
#pragma unroll
        for (int gn = 0; gn < GN; ++gn) {
#pragma unroll
          for (int w = 0; w < 4; ++w) {
            const int64_t col = col0 + gn * 64 + tc * 4 + w;
            if (col >= n) continue;
            float out = __fmul_rn(alpha, acc[gm * 4 + v][gn * 4 + w]);
            if (beta != 0.0f) out = __fadd_rn(out, __fmul_rn(beta, crow[col]));
            out = __fadd_rn(out, g.bias != nullptr ? g.bias[col] : 0.0f);  // + 0.0f as on the CPU (-0 -> +0)
            crow[col] = out;
          }
        }
      }
    }
  }
}

// k == 0 or alpha == 0: C = (beta == 0 ? 0 : beta * C) + bias, exactly as gemm.cc's scale_c.
__global__ void scale_c_kernel(float* c, int64_t m, int64_t n, int64_t ldc, float beta, const float* bias) {
  const int64_t total = m * n;
  for (int64_t idx = detail::first_index(); idx < total; idx += detail::grid_stride()) {
    const int64_t i = idx / n, j = idx - i * n;
    float* cij = c + i * ldc + j;
    const float prior = beta == 0.0f ? 0.0f : __fmul_rn(beta, *cij);
    *cij = __fadd_rn(prior, bias != nullptr ? bias[j] : 0.0f);
  }
}

template <int BM, int BN>
bool launch_tiles(const GemmArgs& g, std::string* error) {
  const int64_t col_tiles = (g.n + BN - 1) / BN;
  const int64_t row_tiles = (g.m + BM - 1) / BM;
  if (col_tiles > 0x7fffffff) {
    if (error) *error = "gemm: n = " + std::to_string(g.n) + " is too large for one launch";
    return false;
  }
  const dim3 grid(static_cast<unsigned int>(col_tiles),
                  static_cast<unsigned int>(row_tiles < kMaxGridY ? row_tiles : kMaxGridY));
  if (!g.trans_a && !g.trans_b) sgemm_kernel<BM, BN, false, false><<<grid, kGemmThreads, 0, detail::stream()>>>(g);
  else if (!g.trans_a && g.trans_b) sgemm_kernel<BM, BN, false, true><<<grid, kGemmThreads, 0, detail::stream()>>>(g);
  else if (g.trans_a && !g.trans_b) sgemm_kernel<BM, BN, true, false><<<grid, kGemmThreads, 0, detail::stream()>>>(g);
  else sgemm_kernel<BM, BN, true, true><<<grid, kGemmThreads, 0, detail::stream()>>>(g);
  return detail::launched("gemm", error);
}

}  // namespace

bool gemm(const GemmArgs& g, std::string* error) {
  // The second K segment and the col_scale / act / pre_out epilogue are not implemented here: refused,
  // whatever the sizes, rather than ignored.
  if (!gemm_args_supported(g, error)) return false;
  if (g.m < 0 || g.n < 0 || g.k < 0) {
    if (error) *error = "gemm: negative dimension";
    return false;
  }
  if (g.m == 0 || g.n == 0) return true;
  if (g.k == 0 || g.alpha == 0.0f) {
    scale_c_kernel<<<detail::grid_for(g.m * g.n), detail::kThreads, 0, detail::stream()>>>(g.c, g.m, g.n, g.ldc, g.beta, g.bias);
    return detail::launched("gemm", error);
  }
  bool handled = false;
  if (!cublaslt_gemm_f32(g, &handled, error)) return false;
  if (handled) return true;
  // 128 x 128 tiles when they still give every SM of a large GPU (~100+) a block; 64 x 64 otherwise.
  const int64_t big_tiles = ((g.m + 127) / 128) * ((g.n + 127) / 128);
  if (big_tiles >= 128) return launch_tiles<128, 128>(g, error);
  return launch_tiles<64, 64>(g, error);
}

}  // namespace cuda
}  // namespace peftjs
