// The bfloat16 GEMM on AVX512_BF16 (see gemm_bf16.h): a 12 x 32 tile in 24 zmm accumulators, as the
// float32 AVX-512 kernel, but each step takes a pair of k values: vdpbf16ps multiplies 16 pairs of
// bf16 and adds both products to each float32 lane, so one instruction does the work of two FMAs.
// Panels therefore hold pairs: A as [k/2][12] and B as [k/2][32] 32-bit words, each word the bf16 values
// at k = 2p (low half) and 2p + 1 (high half), an odd k's last partner zero. Packing rounds float32
// operands (vcvtne2ps2bf16, nearest even; like vdpbf16ps it treats denormals as zero) and reuses the
// float32 driver's 8x8 transposing pack on the 32-bit words, which it moves bit for bit.
// The schedule is the float32 driver's blocked one (B packed once per block, shared by all threads; each
// task packs its own rows of A), with the columns split too when there are fewer row blocks than threads.
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "../../runtime/scratch.h"
#include "../../runtime/thread_pool.h"
#include "gemm_bf16.h"
#include "gemm_microkernel.h"
#include "../simd/target.h"

PEFTJS_TARGET_BEGIN("avx512f,avx512dq,avx512bw,avx512vl,avx512bf16,avx2,fma")

#include "gemm_tile_avx512.h"

namespace peftjs {
namespace {

constexpr int MR = 12;
constexpr int NR = 32;
// Blocks measured on Zen 5 (2 threads, 2048 x 4096 x 4096 and 512 x 5632 x 2048): 1024 pairs deep (2048 k
// values, one or two passes over C for a transformer's K) ran at 770 and 700 GFLOP/s against 640 and 600
// with the float32 kernel's 768 values; row blocks of 12, 24 or 48 and column blocks of 2048 or 3072 were
// within noise of each other, 512 columns 7% slower.
constexpr int64_t kPairsPerBlock = 1024;
constexpr int64_t kRowsPerBlock = 24;
constexpr int64_t kColsPerBlock = 3072;
constexpr int64_t kSlack = 16;  // the transposing pack may store past a panel (PackRows)

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }

// The pair buffers hold 32-bit words; the float32 pack moves them as floats (bits unchanged).
float* as_floats(uint32_t* p) { return reinterpret_cast<float*>(p); }
uint32_t* as_words(float* p) { return reinterpret_cast<uint32_t*>(p); }

// `count` float32 values -> ceil(count / 2) pairs, rounded to nearest even.
void floats_to_pairs(const float* src, int64_t count, uint32_t* dst) {
  int64_t i = 0;
  for (; i + 32 <= count; i += 32) {
    const __m512bh v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(src + i + 16), _mm512_loadu_ps(src + i));
    _mm512_storeu_si512(dst + i / 2, (__m512i)v);
  }
  if (i == count) return;
  const int64_t rest = count - i;  // 1..31
  const __mmask16 lo = rest >= 16 ? __mmask16(0xffff) : __mmask16((1u << rest) - 1);
  const __mmask16 hi = rest > 16 ? __mmask16((1u << (rest - 16)) - 1) : __mmask16(0);
  const __m512bh v = _mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(hi, src + i + 16), _mm512_maskz_loadu_ps(lo, src + i));
  _mm512_mask_storeu_epi32(dst + i / 2, __mmask16((1u << ((rest + 1) / 2)) - 1), (__m512i)v);
}

// `count` bf16 values -> ceil(count / 2) pairs.
void bits_to_pairs(const uint16_t* src, int64_t count, uint32_t* dst) {
  std::memcpy(dst, src, static_cast<size_t>(count / 2) * 4);
  if (count & 1) dst[count / 2] = bf16_bits_at(src, count - 1);
}

// Values [k0, k0 + count) of row `row` of B stored [n, k] (trans_b) as pairs, whatever B's form.
void row_to_pairs(const GemmBf16Args& g, int64_t row, int64_t k0, int64_t count, uint32_t* dst) {
  if (g.b_bits != nullptr) {
    bits_to_pairs(g.b_bits + row * g.ldb + k0, count, dst);
  } else if (g.b_quant != nullptr) {
    // Dequantized a row segment at a time (at most a block's 2 * kPairsPerBlock values) into slot 4.
    float* values = gemm_thread_buffer(4, 2 * kPairsPerBlock);
    dequantize(*g.b_quant, row * g.ldb + k0, row * g.ldb + k0 + count, values);
    floats_to_pairs(values, count, dst);
  } else {
    floats_to_pairs(g.b + row * g.ldb + k0, count, dst);
  }
}

// 32 consecutive values of row `row` from column j0 (the first `cols`, the rest zero) as bf16.
__m512i row_bf16x32(const float* f, const uint16_t* bits, int64_t ld, int64_t row, int64_t j0, int cols) {
  if (bits != nullptr) return _mm512_maskz_loadu_epi16(cols >= 32 ? ~__mmask32(0) : (__mmask32(1) << cols) - 1, bits + row * ld + j0);
  const float* src = f + row * ld + j0;
  const __mmask16 lo = cols >= 16 ? __mmask16(0xffff) : __mmask16((1u << cols) - 1);
  const __mmask16 hi = cols >= 32 ? __mmask16(0xffff) : cols > 16 ? __mmask16((1u << (cols - 16)) - 1) : __mmask16(0);
  return (__m512i)_mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(hi, src + 16), _mm512_maskz_loadu_ps(lo, src));
}

struct Pairs {
  int64_t p0, count;  // pairs [p0, p0 + count): values [2 p0, min(k, 2 (p0 + count)))
};

// One kcp x 32 panel of op(B) for columns [j0, j0 + cols). tmp holds 32 x kcp words.
void pack_b_panel(const GemmBf16Args& g, Pairs pr, int64_t j0, int cols, uint32_t* tmp, uint32_t* dst) {
  const int64_t k0 = 2 * pr.p0, values = std::min(g.k - k0, 2 * pr.count);
  if (g.trans_b) {
    // Column j of op(B) is row j of B, contiguous in k: convert the rows, then transpose the words.
    for (int j = 0; j < cols; ++j) row_to_pairs(g, j0 + j, k0, values, tmp + j * pr.count);
    pack_rows_avx2(as_floats(tmp), pr.count, cols, pr.count, NR, as_floats(dst));
    return;
  }
  // B [k, n]: pair p of column j interleaves rows 2p and 2p + 1, 32 columns at a time.
  alignas(64) static const uint16_t kLo[32] = {0, 32, 1, 33, 2, 34, 3, 35, 4, 36, 5, 37, 6, 38, 7, 39,
                                               8, 40, 9, 41, 10, 42, 11, 43, 12, 44, 13, 45, 14, 46, 15, 47};
  alignas(64) static const uint16_t kHi[32] = {16, 48, 17, 49, 18, 50, 19, 51, 20, 52, 21, 53, 22, 54, 23, 55,
                                               24, 56, 25, 57, 26, 58, 27, 59, 28, 60, 29, 61, 30, 62, 31, 63};
  const __m512i lo = _mm512_load_si512(kLo), hi = _mm512_load_si512(kHi);
  for (int64_t q = 0; q < pr.count; ++q) {
    const int64_t r = k0 + 2 * q;
    const __m512i even = row_bf16x32(g.b, g.b_bits, g.ldb, r, j0, cols);
    const __m512i odd = r + 1 < g.k ? row_bf16x32(g.b, g.b_bits, g.ldb, r + 1, j0, cols) : _mm512_setzero_si512();
    _mm512_storeu_si512(dst + q * NR, _mm512_permutex2var_epi16(even, lo, odd));
    _mm512_storeu_si512(dst + q * NR + 16, _mm512_permutex2var_epi16(even, hi, odd));
  }
}

// Rows [i0, i0 + rows) of A as consecutive kcp x 12 panels. tmp holds 12 x kcp words.
void pack_a_block(const GemmBf16Args& g, Pairs pr, int64_t i0, int64_t rows, uint32_t* tmp, uint32_t* dst) {
  const int64_t k0 = 2 * pr.p0, values = std::min(g.k - k0, 2 * pr.count);
  for (int64_t i = 0; i < rows; i += MR) {
    const int r = static_cast<int>(std::min<int64_t>(MR, rows - i));
    for (int t = 0; t < r; ++t) floats_to_pairs(g.a + (i0 + i + t) * g.lda + k0, values, tmp + t * pr.count);
    pack_rows_avx2(as_floats(tmp), pr.count, r, pr.count, MR, as_floats(dst + i * pr.count));
  }
}

void kernel(int64_t kcp, const uint32_t* a, const uint32_t* b, float* c, int64_t ldc, const TileEpilogue& ep,
            int rows, int cols) {
  prefetch_c_tile(c, ldc, rows, cols);
  __m512 acc[MR][2];
#pragma GCC unroll 12
  for (int i = 0; i < MR; ++i) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
  for (int64_t p = 0; p < kcp; ++p) {
    const __m512bh b0 = (__m512bh)_mm512_loadu_si512(b);
    const __m512bh b1 = (__m512bh)_mm512_loadu_si512(b + 16);
#pragma GCC unroll 12
    for (int i = 0; i < MR; ++i) {
      const __m512bh ai = (__m512bh)_mm512_set1_epi32(static_cast<int>(a[i]));
      acc[i][0] = _mm512_dpbf16_ps(acc[i][0], ai, b0);
      acc[i][1] = _mm512_dpbf16_ps(acc[i][1], ai, b1);
    }
    a += MR;
    b += NR;
  }
  store_acc_tile_avx512<MR>(acc, c, ldc, ep, rows, cols);
}

}  // namespace

void gemm_bf16_avx512(const GemmBf16Args& g) {
  const int64_t kp = ceil_div(g.k, 2);
  const int64_t kcp_max = ceil_div(kp, ceil_div(kp, kPairsPerBlock));  // equal blocks
  const int64_t nc_max = round_up(ceil_div(g.n, ceil_div(g.n, kColsPerBlock)), NR);
  const int threads = num_threads();
  const int64_t m_panels = ceil_div(g.m, MR);
  const int64_t m_blocks = std::min(m_panels, round_up(ceil_div(g.m, kRowsPerBlock), threads));
  const int64_t mc_max = ceil_div(m_panels, m_blocks) * MR;
  Scratch packed_b(static_cast<size_t>(kcp_max * nc_max + kSlack));
  uint32_t* b_panels = as_words(packed_b.data());
  for (int64_t jc = 0; jc < g.n; jc += nc_max) {
    const int64_t nc = std::min(nc_max, g.n - jc);
    const int64_t n_panels = ceil_div(nc, NR);
    // Fewer row blocks than threads (few rows): each row block's columns are shared out as well.
    const int64_t n_splits = m_blocks >= threads ? 1 : std::min(n_panels, ceil_div(2 * threads, m_blocks));
    for (int64_t p0 = 0; p0 < kp; p0 += kcp_max) {
      const Pairs pr{p0, std::min(kcp_max, kp - p0)};
      const TileEpilogue first{g.alpha, g.beta, g.bias}, later{g.alpha, 1.0f, nullptr};
      const TileEpilogue& ep = p0 == 0 ? first : later;
      parallel_for(n_panels, 1, [&](int64_t q0, int64_t q1) {
        uint32_t* tmp = as_words(gemm_thread_buffer(3, NR * kcp_max + kSlack));
        for (int64_t q = q0; q < q1; ++q)
          pack_b_panel(g, pr, jc + q * NR, static_cast<int>(std::min<int64_t>(NR, nc - q * NR)), tmp,
                       b_panels + q * pr.count * NR);
      });
      parallel_tasks(m_blocks * n_splits, [&](int64_t t) {
        const int64_t mb = t / n_splits, split = t % n_splits;
        const int64_t i0 = mb * m_panels / m_blocks * MR;
        const int64_t i1 = std::min(g.m, (mb + 1) * m_panels / m_blocks * MR);
        uint32_t* a_block = as_words(gemm_thread_buffer(2, mc_max * kcp_max + kSlack));
        pack_a_block(g, pr, i0, i1 - i0, as_words(gemm_thread_buffer(3, MR * kcp_max + kSlack)), a_block);
        for (int64_t q = split * n_panels / n_splits; q < (split + 1) * n_panels / n_splits; ++q) {
          const int64_t j = jc + q * NR;
          const int cols = static_cast<int>(std::min<int64_t>(NR, g.n - j));
          TileEpilogue tile_ep = ep;
          if (tile_ep.bias != nullptr) tile_ep.bias += j;
          for (int64_t i = i0; i < i1; i += MR)
            kernel(pr.count, a_block + (i - i0) * pr.count, b_panels + q * pr.count * NR, g.c + i * g.ldc + j, g.ldc,
                   tile_ep, static_cast<int>(std::min<int64_t>(MR, i1 - i)), cols);
        }
      });
    }
  }
}

}  // namespace peftjs

PEFTJS_TARGET_END
