// The bfloat16 GEMM of csrc/kernels/gemm/gemm_bf16.h on tensor cores:
//   C[m, n] = alpha * sum_k bf16(A)[m, k] bf16(op(B))[k, n] + beta * C[m, n] + bias[n]
// A is float32, rounded to bf16 (nearest even) as it is loaded; B is bf16 bits (used as they are) or float32
// (rounded as it is loaded), B [k, n] or, with trans_b, B^T from W [n, k]. Products are summed in float32
// by mma.sync.m16n8k16 (bf16 x bf16 -> f32, sm_80+). beta == 0 leaves C unread; k == 0 or alpha == 0 is
// C = beta C + bias with no product, done by cuda::gemm's scale kernel exactly as the CPU does it. A packed
// low-precision weight (b_quant) is dequantized by cuda::dequantize a panel of rows at a time into float32
// scratch (at most kPanelFloats values, so no float32 copy of a large weight is made) and each panel is
// multiplied as a float32 B: the values are the CPU's (dequantize, then round to bf16).
//
// The kernel: a block of 256 threads (8 warps, 2 along m x 4 along n) computes a BM x BN tile of C (128 x
// 128, or 64 x 64 when the big tiles would leave SMs idle), stepping through k in slices of 32. Each slice
// is read from global memory into registers (float4 / 16-byte loads where the pointer and leading dimension
// allow, guarded scalar loads elsewhere: edge tiles and any lda / ldb work, outside values are zero),
// converted to bf16 and stored to a double-buffered shared tile; the next slice's loads are issued before
// the current slice's MMAs, so their latency hides behind the math, and one barrier per slice suffices.
// Shared tiles keep k contiguous for A ([m][k]) and for B^T ([n][k]: trans_b), so ldmatrix reads the mma
// fragments directly; a non-transposed B stays [k][n] and is read with ldmatrix.trans. Rows are padded by
// 8 bf16 (16 bytes), which keeps ldmatrix's eight row addresses in distinct bank groups. The epilogue
// applies alpha, beta and bias in the order of cuda/gemm.cu (the CPU's). A 1-d grid walks the tiles in
// groups of 8 row tiles (column by column within a group) for L2 reuse, looping when there are more than
// a grid holds; all offsets are int64.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "common.cuh"
#include "cublaslt.h"
#include "device_api.h"

namespace peftjs {
namespace cuda {
namespace {

constexpr int kBK = 32;                              // k slice
constexpr int kGemmThreads = 256;                    // 8 warps
constexpr int kPad = 8;                              // bf16 padding per shared row
constexpr int kGroupRows = 8;                        // tile order: 8 row tiles down, then the next column
constexpr int64_t kPanelFloats = int64_t{1} << 24;   // b_quant: the most dequantized values at once (64 MiB)

// ---- PTX wrappers --------------------------------------------------------------------------------------

__device__ __forceinline__ unsigned int smem_addr(const void* p) {
  return static_cast<unsigned int>(__cvta_generic_to_shared(p));
}

// Four 8x8 b16 matrices; lane l gives the row address of matrix l / 8, row l % 8.
__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], const void* p) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr(p))
               : "memory");
#else
  __trap();
#endif
}

__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], const void* p) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr(p))
               : "memory");
#else
  __trap();
#endif
}

// acc += a (16 x 16, row-major fragment) * b (16 x 8, column-major fragment), bf16 in, float32 accumulate.
__device__ __forceinline__ void mma_bf16(float (&acc)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};\n"
      : "+f"(acc[0]), "+f"(acc[1]), "+f"(acc[2]), "+f"(acc[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#else
  __trap();
#endif
}

// Two floats as a bf16 pair (x in the low half: the lower address), each rounded to nearest even.
__device__ __forceinline__ uint32_t pack_bf16(float x, float y) {
  const __nv_bfloat162 v = __floats2bfloat162_rn(x, y);
  return *reinterpret_cast<const uint32_t*>(&v);
}

// ---- The kernel ----------------------------------------------------------------------------------------

struct Plan {
  GemmBf16Args g;
  bool a_vec;  // a is 16-byte aligned and lda % 4 == 0: whole float4 loads
  bool b_vec;  // b (b_bits) is 16-byte aligned and ldb % 4 == 0 (% 8 for bits): whole 16-byte loads
};

// What a thread of the tile loader reads per slice: A as BM / 32 float4 chunks, B as BN / 32 float4
// chunks (float32) or BN / 64 chunks of eight bf16 (bits).
template <int BM, int BN, bool kTransB, bool kBits>
struct Tile {
  static constexpr int kWarpsM = 2, kWarpsN = 4;
  static constexpr int WTM = BM / kWarpsM, WTN = BN / kWarpsN;  // warp tile
  static constexpr int MT = WTM / 16, NT = WTN / 8;             // mma tiles per warp
  static constexpr int LDA_S = kBK + kPad;                      // A shared row (bf16)
  static constexpr int LDB_S = kTransB ? kBK + kPad : BN + kPad;
  static constexpr int A_ELEMS = BM * LDA_S;
  static constexpr int B_ELEMS = kTransB ? BN * LDB_S : kBK * LDB_S;
  static constexpr int A_LOADS = BM * kBK / (kGemmThreads * 4);
  static constexpr int B_LOADS = kBits ? BN * kBK / (kGemmThreads * 8) : BN * kBK / (kGemmThreads * 4);
  static_assert(MT >= 1 && NT % 2 == 0, "B fragments are loaded for pairs of n tiles");
  static_assert(A_LOADS >= 1 && B_LOADS >= 1, "every thread loads");
};

template <int BM, int BN, bool kTransB, bool kBits>
__global__ void __launch_bounds__(kGemmThreads) gemm_bf16_kernel(const Plan plan) {
  using T = Tile<BM, BN, kTransB, kBits>;
  __shared__ __align__(16) uint16_t As[2][T::A_ELEMS];
  __shared__ __align__(16) uint16_t Bs[2][T::B_ELEMS];

  const GemmBf16Args& g = plan.g;
  const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
  const int wm = warp / T::kWarpsN, wn = warp % T::kWarpsN;
  const int64_t m = g.m, n = g.n, k = g.k;
  const int64_t row_tiles = (m + BM - 1) / BM, col_tiles = (n + BN - 1) / BN;
  const int64_t k_tiles = (k + kBK - 1) / kBK;
  const float* fb = g.b;
  const uint16_t* hb = g.b_bits;

  // Load plan of A: chunk r is row tid / 8 + 32 r of the tile, k (tid % 8) * 4 .. + 3 of the slice.
  const int a_k = (tid % 8) * 4;
  // Load plan of B (x: the tile's n index for trans_b, else its k index; y the other):
  //  trans_b, float32: row (n) tid / 8 + 32 r, k (tid % 8) * 4 .. + 3
  //  trans_b, bits:    row (n) tid / 4 + 64 r, k (tid % 4) * 8 .. + 7
  //  B [k, n], float32: k tid / (BN / 4) + (1024 / BN) r, n (tid % (BN / 4)) * 4 .. + 3
  //  B [k, n], bits:    k tid / (BN / 8) + (2048 / BN) r, n (tid % (BN / 8)) * 8 .. + 7
  constexpr int kVec = kBits ? 8 : 4;  // values per B chunk
  constexpr int kLanesPerLine = kTransB ? kBK / kVec : BN / kVec;
  constexpr int kLineStep = kGemmThreads / kLanesPerLine;
  const int b_line0 = tid / kLanesPerLine;  // n (trans_b) or k of chunk 0
  const int b_in = (tid % kLanesPerLine) * kVec;  // k (trans_b) or n within the line

  float a_stage[T::A_LOADS][4];
  float b_stage_f[kBits ? 1 : T::B_LOADS][4];
  uint4 b_stage_h[kBits ? T::B_LOADS : 1];

  for (int64_t tile = blockIdx.x; tile < row_tiles * col_tiles; tile += gridDim.x) {  // uniform per block
    // Tiles in groups of kGroupRows row tiles, column by column within a group: the blocks running at
    // once share a few panels of A and of B, which then stay in L2.
    const int64_t group = tile / (kGroupRows * col_tiles);
    const int64_t first_row = group * kGroupRows;
    const int64_t group_rows = row_tiles - first_row < kGroupRows ? row_tiles - first_row : kGroupRows;
    const int64_t in_group = tile - group * kGroupRows * col_tiles;
    const int64_t row0 = (first_row + in_group % group_rows) * BM;
    const int64_t col0 = (in_group / group_rows) * BN;

    // Global -> registers for the slice at k0; zeros outside op(A) and op(B).
    auto load = [&](int64_t k0) {
#pragma unroll
      for (int r = 0; r < T::A_LOADS; ++r) {
        const int64_t row = row0 + tid / 8 + 32 * r, kk = k0 + a_k;
        float* v = a_stage[r];
        if (row < m) {
          const float* src = g.a + row * g.lda + kk;
          if (plan.a_vec && kk + 3 < k) {
            const float4 q = *reinterpret_cast<const float4*>(src);
            v[0] = q.x, v[1] = q.y, v[2] = q.z, v[3] = q.w;
          } else {
#pragma unroll
            for (int e = 0; e < 4; ++e) v[e] = kk + e < k ? src[e] : 0.0f;
          }
        } else {
#pragma unroll
          for (int e = 0; e < 4; ++e) v[e] = 0.0f;
        }
      }
#pragma unroll
      for (int r = 0; r < T::B_LOADS; ++r) {
        const int line = b_line0 + kLineStep * r;
        // (nn, kk): the chunk's first element of op(B) as [n, k]; the chunk runs along k (trans_b) or n.
        const int64_t nn = kTransB ? col0 + line : col0 + b_in;
        const int64_t kk = kTransB ? k0 + b_in : k0 + line;
        const bool line_in = kTransB ? nn < n : kk < k;  // the line exists
        const int64_t run_left = kTransB ? k - kk : n - nn;  // elements of the run inside op(B)
        const int64_t off = kTransB ? nn * g.ldb + kk : kk * g.ldb + nn;
        if constexpr (kBits) {
          uint4& v = b_stage_h[r];
          if (line_in && plan.b_vec && run_left >= 8) {
            v = *reinterpret_cast<const uint4*>(hb + off);
          } else {
            uint32_t w[4];
#pragma unroll
            for (int e = 0; e < 4; ++e) {
              const uint32_t lo = line_in && 2 * e < run_left ? hb[off + 2 * e] : 0u;
              const uint32_t hi = line_in && 2 * e + 1 < run_left ? hb[off + 2 * e + 1] : 0u;
              w[e] = lo | (hi << 16);
            }
            v = make_uint4(w[0], w[1], w[2], w[3]);
          }
        } else {
          float* v = b_stage_f[r];
          if (line_in && plan.b_vec && run_left >= 4) {
            const float4 q = *reinterpret_cast<const float4*>(fb + off);
            v[0] = q.x, v[1] = q.y, v[2] = q.z, v[3] = q.w;
          } else {
#pragma unroll
            for (int e = 0; e < 4; ++e) v[e] = line_in && e < run_left ? fb[off + e] : 0.0f;
          }
        }
      }
    };

    // Registers -> shared buffer `buf`, rounding float32 to bf16.
    auto store = [&](int buf) {
#pragma unroll
      for (int r = 0; r < T::A_LOADS; ++r) {
        const float* v = a_stage[r];
        *reinterpret_cast<uint2*>(&As[buf][(tid / 8 + 32 * r) * T::LDA_S + a_k]) =
            make_uint2(pack_bf16(v[0], v[1]), pack_bf16(v[2], v[3]));
      }
#pragma unroll
      for (int r = 0; r < T::B_LOADS; ++r) {
        uint16_t* dst = &Bs[buf][(b_line0 + kLineStep * r) * T::LDB_S + b_in];
        if constexpr (kBits) {
          *reinterpret_cast<uint4*>(dst) = b_stage_h[r];
        } else {
          const float* v = b_stage_f[r];
          *reinterpret_cast<uint2*>(dst) = make_uint2(pack_bf16(v[0], v[1]), pack_bf16(v[2], v[3]));
        }
      }
    };

    float acc[T::MT][T::NT][4];
#pragma unroll
    for (int i = 0; i < T::MT; ++i)
#pragma unroll
      for (int j = 0; j < T::NT; ++j)
#pragma unroll
        for (int e = 0; e < 4; ++e) acc[i][j][e] = 0.0f;

    // The MMAs of one shared slice: two k16 steps.
    auto compute = [&](int buf) {
#pragma unroll
      for (int ks = 0; ks < kBK; ks += 16) {
        uint32_t af[T::MT][4], bf[T::NT][2];
#pragma unroll
        for (int mt = 0; mt < T::MT; ++mt) {
          const int row = wm * T::WTM + mt * 16 + (lane & 15);
          ldmatrix_x4(af[mt], &As[buf][row * T::LDA_S + ks + (lane >> 4) * 8]);
        }
#pragma unroll
        for (int np = 0; np < T::NT / 2; ++np) {
          uint32_t r[4];
          if constexpr (kTransB) {  // [n][k]: matrices (n 0-7, k 0-7), (n 0-7, k 8-15), (n 8-15, k 0-7), (n 8-15, k 8-15)
            const int nrow = wn * T::WTN + np * 16 + (lane & 7) + (lane >> 4) * 8;
            ldmatrix_x4(r, &Bs[buf][nrow * T::LDB_S + ks + ((lane >> 3) & 1) * 8]);
          } else {  // [k][n], transposed on the way: the same four matrices
            const int krow = ks + (lane & 7) + ((lane >> 3) & 1) * 8;
            ldmatrix_x4_trans(r, &Bs[buf][krow * T::LDB_S + wn * T::WTN + np * 16 + (lane >> 4) * 8]);
          }
          bf[2 * np][0] = r[0], bf[2 * np][1] = r[1], bf[2 * np + 1][0] = r[2], bf[2 * np + 1][1] = r[3];
        }
#pragma unroll
        for (int mt = 0; mt < T::MT; ++mt)
#pragma unroll
          for (int nt = 0; nt < T::NT; ++nt) mma_bf16(acc[mt][nt], af[mt], bf[nt][0], bf[nt][1]);
      }
    };

    // Buffer 0 is free: the barrier that ended the previous tile (if any) came after its last read.
    load(0);
    store(0);
    __syncthreads();
    for (int64_t kt = 0; kt < k_tiles; ++kt) {
      const int cur = static_cast<int>(kt & 1);
      const bool more = kt + 1 < k_tiles;
      if (more) load((kt + 1) * kBK);  // in flight during the MMAs
      compute(cur);
      // The other buffer was last read in iteration kt - 1, before the barrier that ended it.
      if (more) store(cur ^ 1);
      __syncthreads();
    }

    // Epilogue: fragment element e of tile (mt, nt) is row g (+8 for e >= 2), column 2 t (+1 for odd e).
    const float alpha = g.alpha, beta = g.beta;
#pragma unroll
    for (int mt = 0; mt < T::MT; ++mt) {
#pragma unroll
      for (int half = 0; half < 2; ++half) {
        const int64_t row = row0 + wm * T::WTM + mt * 16 + lane / 4 + 8 * half;
        if (row >= m) continue;
        float* crow = g.c + row * g.ldc;
#pragma unroll
        for (int nt = 0; nt < T::NT; ++nt) {
#pragma unroll
          for (int e = 0; e < 2; ++e) {
            const int64_t col = col0 + wn * T::WTN + nt * 8 + (lane % 4) * 2 + e;
            if (col >= n) continue;
            float out = __fmul_rn(alpha, acc[mt][nt][2 * half + e]);
            if (beta != 0.0f) out = __fadd_rn(out, __fmul_rn(beta, crow[col]));
            out = __fadd_rn(out, g.bias != nullptr ? g.bias[col] : 0.0f);  // + 0.0f as on the CPU (-0 -> +0)
            crow[col] = out;
          }
        }
      }
    }
  }
}

bool aligned(const void* p, uintptr_t bytes) { return reinterpret_cast<uintptr_t>(p) % bytes == 0; }

template <int BM, int BN>
bool launch_tiles(const Plan& plan, std::string* error) {
  const GemmBf16Args& g = plan.g;
  const int64_t tiles = ((g.m + BM - 1) / BM) * ((g.n + BN - 1) / BN);
  const unsigned int grid = static_cast<unsigned int>(tiles < 0x7fffffff ? tiles : 0x7fffffff);  // more: looped
  const bool bits = g.b_bits != nullptr;
  if (g.trans_b && bits) gemm_bf16_kernel<BM, BN, true, true><<<grid, kGemmThreads, 0, detail::stream()>>>(plan);
  else if (g.trans_b) gemm_bf16_kernel<BM, BN, true, false><<<grid, kGemmThreads, 0, detail::stream()>>>(plan);
  else if (bits) gemm_bf16_kernel<BM, BN, false, true><<<grid, kGemmThreads, 0, detail::stream()>>>(plan);
  else gemm_bf16_kernel<BM, BN, false, false><<<grid, kGemmThreads, 0, detail::stream()>>>(plan);
  return detail::launched("gemm_bf16", error);
}

// One product with B as bits or float32 (m, n, k >= 1, alpha != 0).
bool run_tiles(const GemmBf16Args& g, std::string* error) {
  Plan plan;
  plan.g = g;
  plan.g.b_quant = nullptr;
  plan.a_vec = aligned(g.a, 16) && g.lda % 4 == 0;
  plan.b_vec = g.b_bits != nullptr ? aligned(g.b_bits, 16) && g.ldb % 8 == 0 : aligned(g.b, 16) && g.ldb % 4 == 0;
  // 128 x 128 tiles when they still give every SM of a large GPU (~100+) a block; 64 x 64 otherwise.
  const int64_t big_tiles = ((g.m + 127) / 128) * ((g.n + 127) / 128);
  if (big_tiles >= 128) return launch_tiles<128, 128>(plan, error);
  return launch_tiles<64, 64>(plan, error);
}

// B from a packed weight W [n, k]: panels of rows dequantized into float32 scratch, each multiplied as a
// float32 B^T (rounded to bf16 as it is loaded, as the CPU rounds the dequantized values).
bool run_quantized(const GemmBf16Args& g, std::string* error) {
  const int64_t rows = g.n < kPanelFloats / g.k ? g.n : (kPanelFloats / g.k > 0 ? kPanelFloats / g.k : 1);
  float* panel = static_cast<float*>(alloc_async(static_cast<size_t>(rows * g.k) * sizeof(float), error));
  if (panel == nullptr) return false;
  bool ok = true;
  for (int64_t j0 = 0; ok && j0 < g.n; j0 += rows) {
    const int64_t cols = g.n - j0 < rows ? g.n - j0 : rows;
    ok = dequantize(*g.b_quant, j0 * g.k, (j0 + cols) * g.k, panel, error);
    if (!ok) break;
    GemmBf16Args p = g;
    p.b_quant = nullptr;
    p.b = panel;
    p.ldb = g.k;
    p.n = cols;
    p.c = g.c + j0;
    p.bias = g.bias != nullptr ? g.bias + j0 : nullptr;
    ok = run_tiles(p, error);
  }
  // Stream-ordered: released once the last panel's GEMM has read it.
  return free_async(panel, ok ? error : nullptr) && ok;
}

}  // namespace

bool gemm_bf16(const GemmBf16Args& g, std::string* error) {
  auto refuse = [error](const std::string& why) {
    if (error) *error = "gemm_bf16: " + why;
    return false;
  };
  if (g.m < 0 || g.n < 0 || g.k < 0) return refuse("negative dimension");
  const int sources = int(g.b_bits != nullptr) + int(g.b != nullptr) + int(g.b_quant != nullptr);
  if (sources != 1) return refuse("exactly one of b_bits, b and b_quant must be set, got " + std::to_string(sources));
  if (g.b_quant != nullptr && (!g.trans_b || g.ldb != g.k))
    return refuse("b_quant needs trans_b and ldb == k (the row-major weight [n, k])");
  if (g.m == 0 || g.n == 0) return true;
  if (g.k == 0 || g.alpha == 0.0f) {
    // Nothing to multiply (B is not read): C = beta * C + bias, as the CPU does it (the float32 GEMM with k = 0).
    GemmArgs f;
    f.m = g.m, f.n = g.n, f.k = 0, f.alpha = g.alpha, f.beta = g.beta, f.c = g.c, f.ldc = g.ldc, f.bias = g.bias;
    return gemm(f, error);
  }
  if (g.b_bits != nullptr && !aligned(g.b_bits, 2))
    return refuse("b_bits must be 2-byte aligned on the device (an odd byte address cannot be read as bf16)");
  if (g.b_quant != nullptr) return run_quantized(g, error);
  if (g.b_bits != nullptr) {
    // A bf16 weight is what cuBLASLt takes as it is: its GEMM first where the library was found.
    bool handled = false;
    if (!cublaslt_gemm_bf16(g, nullptr, 0, &handled, error)) return false;
    if (handled) return true;
  }
  return run_tiles(g, error);
}

}  // namespace cuda
}  // namespace peftjs
