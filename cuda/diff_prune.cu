// Diff pruning with hard-concrete gates and the top-k projection, with the semantics of
// csrc/kernels/diff_prune/diff_prune.cc (the formulas are in diff_prune.h).
//
// Gates. Training draws u from the counter RNG of csrc/kernels/random: parameter i takes word i of the
// Philox4x32-10 stream keyed by the seed (counter i / 4, lane i % 4; cuda/philox.cuh, bit for bit the CPU's),
// so a thread takes one Philox block and the four parameters it covers.
// The gate math is the CPU's scalar path in float (CUDA's expf/logf are within 2 ulp of glibc's, as the
// CPU's own AVX2 path is of its scalar one).
//
// Sums. The forward's penalty and the structured backward's sum_i dw_i delta_i are reduced in double in a
// fixed order: each block sums its grid-stride share with the fixed tree of block_reduce.cuh into a
// partial, then one block adds the partials in the same tree. The grid size depends only on n, so the
// result is the same on every run (not the CPU's order: the two differ in the last bits of a double).
//
// Top-k. |v| as the bits of a non-negative float orders like the value, so the keep-th largest magnitude
// is found by a radix select on those 31 bits (four passes of 8 bits, integer-atomic histograms: exact and
// order-free), all on the device. Ties at the threshold are kept first by index, as on the CPU: a count of
// ties per 4096-element chunk and one block that walks the counts find the index of the last tie kept.
// NaN magnitudes rank above +inf (torch.topk's order; the CPU's nth_element has no defined order for them).
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "block_reduce.cuh"
#include "common.cuh"
#include "philox.cuh"
#include "device_api.h"

namespace peftjs {
namespace cuda {
namespace {

using detail::block_sum;
constexpr int kThreads = detail::kRowThreads;  // every kernel here: 256 threads, block_sum's size
constexpr int64_t kReduceBlocks = 1024;         // blocks of a reducing pass (the partials' count at most)

// Stream-ordered device scratch, released (in stream order) when it goes out of scope.
class Scratch {
 public:
  Scratch(size_t bytes, std::string* error) : ptr_(alloc_async(bytes, error)) {}
  ~Scratch() { free_async(ptr_, nullptr); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  template <class T>
  T* as() const { return static_cast<T*>(ptr_); }
  explicit operator bool() const { return ptr_ != nullptr; }

 private:
  void* ptr_;
};

// The four stream words of Philox block q (parameters 4q .. 4q + 3); zeros in eval mode, which draws nothing.
__device__ __forceinline__ detail::PhiloxWords block_words(const DiffPruneArgs& a, int64_t q) {
  if (!a.training) return {{0u, 0u, 0u, 0u}};
  return detail::philox4x32(static_cast<uint64_t>(q), a.seed);
}

// ---- The gate (diff_prune.cc gate_value) -----------------------------------------------------------------

struct Gate {
  float z, dz;
};

__device__ __forceinline__ float sigmoid(float v) { return 1.0f / (1.0f + expf(-v)); }

__device__ __forceinline__ Gate gate_value(float log_alpha, bool training, uint32_t bits, const GateParams& g) {
  float s, ds;
  if (training) {
    // u in (0, 1): the 24-bit uniform moved half a step off zero; log(u / (1 - u)) as the CPU takes it.
    const float u = (static_cast<float>(bits >> 8) + 0.5f) * (1.0f / 16777216.0f);
    s = sigmoid((logf(u / (1.0f - u)) + log_alpha) / g.beta);
    ds = s * (1.0f - s) / g.beta;
  } else {
    s = sigmoid(log_alpha);
    ds = s * (1.0f - s);
  }
  const float raw = s * (g.zeta - g.gamma) + g.gamma;
  if (raw <= 0.0f) return {0.0f, 0.0f};
  if (raw >= 1.0f) return {1.0f, 0.0f};
  return {raw, (g.zeta - g.gamma) * ds};
}

// The structured gate: one draw (stream word 0) for the whole tensor.
__device__ __forceinline__ Gate shared_gate(const DiffPruneArgs& a) {
  const uint32_t bits = a.training ? detail::philox4x32(0, a.seed).v[0] : 0u;
  return gate_value(a.log_alpha[0], a.training, bits, a.gate);
}

// The host's shift of the penalty term, computed as the CPU computes it (float log).
float penalty_shift(const GateParams& g) { return g.beta * std::log(-g.gamma / g.zeta); }

// Philox blocks (of four parameters) that cover n parameters.
__host__ __device__ __forceinline__ int64_t quads(int64_t n) { return (n + 3) / 4; }

// Blocks for a reducing grid-stride pass over `items` (at least one, so that a partial is always written).
unsigned int reduce_grid(int64_t items) {
  const int64_t blocks = (items + kThreads - 1) / kThreads;
  return static_cast<unsigned int>(blocks < 1 ? 1 : blocks < kReduceBlocks ? blocks : kReduceBlocks);
}

// ---- Forward -------------------------------------------------------------------------------------------

// Per-parameter gates: each thread takes Philox blocks q (parameters 4q .. 4q + 3); the block's share of
// the penalty goes to partials[blockIdx.x].
__global__ void __launch_bounds__(kThreads) forward_gates(DiffPruneArgs a, const float* w, float* w_out, float* z_out,
                                                          float shift, double* partials) {
  __shared__ double scratch[detail::kRowWarps];
  double pen = 0.0;
  const int64_t blocks = quads(a.n);
  for (int64_t q = detail::first_index(); q < blocks; q += detail::grid_stride()) {
    const detail::PhiloxWords r = block_words(a, q);
#pragma unroll
    for (int lane = 0; lane < 4; ++lane) {
      const int64_t i = 4 * q + lane;
      if (i >= a.n) break;
      const float la = a.log_alpha[i];
      const Gate gt = gate_value(la, a.training, r.v[lane], a.gate);
      w_out[i] = w[i] + gt.z * a.delta[i];  // w[i] is read before w_out[i] is written: they may alias
      if (z_out) z_out[i] = gt.z;
      pen += static_cast<double>(sigmoid(la - shift));
    }
  }
  const double total = block_sum(pen, scratch);
  if (threadIdx.x == 0) partials[blockIdx.x] = total;
}

// One gate for the tensor; block 0 also writes the penalty (one term).
__global__ void forward_structured(DiffPruneArgs a, const float* w, float* w_out, float* z_out, float shift,
                                   double* penalty) {
  const Gate gt = shared_gate(a);
  for (int64_t i = detail::first_index(); i < a.n; i += detail::grid_stride()) {
    w_out[i] = w[i] + gt.z * a.delta[i];
    if (z_out) z_out[i] = gt.z;
  }
  if (blockIdx.x == 0 && threadIdx.x == 0) *penalty = static_cast<double>(sigmoid(a.log_alpha[0] - shift));
}

// *out = the partials' sum (one block, a fixed order).
__global__ void __launch_bounds__(kThreads) sum_partials(const double* partials, int count, double* out) {
  __shared__ double scratch[detail::kRowWarps];
  double s = 0.0;
  for (int i = threadIdx.x; i < count; i += kThreads) s += partials[i];
  const double total = block_sum(s, scratch);
  if (threadIdx.x == 0) *out = total;
}

// ---- Backward ------------------------------------------------------------------------------------------

// From the forward's gates: no random bits, no gate math (diff_prune.cc gate_backward_scalar).
__global__ void backward_from_gates(DiffPruneArgs a, const float* dw, float lambda, const float* gates, float shift,
                                    float slope, float* d_delta, float* d_log_alpha) {
  const GateParams g = a.gate;
  for (int64_t i = detail::first_index(); i < a.n; i += detail::grid_stride()) {
    const float z = gates[i];
    const float dz = z > 0.0f && z < 1.0f ? (z - g.gamma) * (g.zeta - z) * slope : 0.0f;
    float pen_grad = 0.0f;
    if (lambda != 0.0f) {
      const float pen = sigmoid(a.log_alpha[i] - shift);
      pen_grad = lambda * pen * (1.0f - pen);
    }
    const float d = dw[i];
    d_delta[i] = d * z;
    d_log_alpha[i] = d * a.delta[i] * dz + pen_grad;
  }
}

// Regenerating the gates (no forward z kept), a Philox block per thread as in the forward.
__global__ void backward_gates(DiffPruneArgs a, const float* dw, float lambda, float shift, float* d_delta,
                               float* d_log_alpha) {
  const int64_t blocks = quads(a.n);
  for (int64_t q = detail::first_index(); q < blocks; q += detail::grid_stride()) {
    const detail::PhiloxWords r = block_words(a, q);
#pragma unroll
    for (int lane = 0; lane < 4; ++lane) {
      const int64_t i = 4 * q + lane;
      if (i >= a.n) break;
      const float la = a.log_alpha[i];
      const Gate gt = gate_value(la, a.training, r.v[lane], a.gate);
      const float pen = sigmoid(la - shift);
      const float d = dw[i];
      d_delta[i] = d * gt.z;
      d_log_alpha[i] = d * a.delta[i] * gt.dz + lambda * pen * (1.0f - pen);
    }
  }
}

// The structured gate's first stage: d_delta = dw z, and each block's share of sum_i dw_i delta_i.
__global__ void __launch_bounds__(kThreads) backward_structured(DiffPruneArgs a, const float* dw, float* d_delta,
                                                                double* partials) {
  __shared__ double scratch[detail::kRowWarps];
  const Gate gt = shared_gate(a);
  double acc = 0.0;
  for (int64_t i = detail::first_index(); i < a.n; i += detail::grid_stride()) {
    const float d = dw[i];
    d_delta[i] = d * gt.z;
    acc += static_cast<double>(d) * a.delta[i];
  }
  const double total = block_sum(acc, scratch);
  if (threadIdx.x == 0) partials[blockIdx.x] = total;
}

// The structured gate's d_log_alpha from the partials: (sum dw delta) dz + lambda p (1 - p).
__global__ void __launch_bounds__(kThreads) backward_structured_finish(DiffPruneArgs a, float lambda, float shift,
                                                                       const double* partials, int count,
                                                                       float* d_log_alpha) {
  __shared__ double scratch[detail::kRowWarps];
  double s = 0.0;
  for (int i = threadIdx.x; i < count; i += kThreads) s += partials[i];
  const double total = block_sum(s, scratch);
  if (threadIdx.x == 0) {
    const Gate gt = shared_gate(a);
    const float p = sigmoid(a.log_alpha[0] - shift);
    d_log_alpha[0] = static_cast<float>(total * gt.dz) + lambda * p * (1.0f - p);
  }
}

// ---- Top-k ---------------------------------------------------------------------------------------------

constexpr int kTieChunk = 4096;  // elements per tie count

struct TopKState {
  unsigned long long hist[256];  // the current pass's histogram (cleared by the select after reading it)
  uint32_t prefix;               // the threshold's magnitude bits found so far
  int64_t remaining;             // entries still to keep among those that match the prefix
  int64_t ties;                  // after the last pass: entries whose magnitude equals the threshold
  int64_t cutoff;                // ties with an index <= cutoff are kept
  double threshold;              // the kept magnitude, for the host
};

// A magnitude's ordering key: |v|'s bits (NaN above +inf).
__device__ __forceinline__ uint32_t key_of(float v) { return __float_as_uint(v) & 0x7fffffffu; }

__global__ void topk_init(TopKState* s, int64_t keep) {
  for (int b = threadIdx.x; b < 256; b += blockDim.x) s->hist[b] = 0;
  if (threadIdx.x == 0) {
    s->prefix = 0;
    s->remaining = keep;
    s->ties = 0;
    s->cutoff = -1;
    s->threshold = 0.0;
  }
}

// Histogram of bits [shift, shift + 8) of the keys whose higher bits equal the prefix's.
__global__ void __launch_bounds__(kThreads) topk_histogram(const float* v, int64_t n, TopKState* s, int shift) {
  __shared__ unsigned long long h[256];
  for (int b = threadIdx.x; b < 256; b += kThreads) h[b] = 0;
  __syncthreads();
  const uint32_t prefix = s->prefix;
  const uint32_t high = shift >= 24 ? 0u : ~0u << (shift + 8);
  for (int64_t i = detail::first_index(); i < n; i += detail::grid_stride()) {
    const uint32_t key = key_of(v[i]);
    if (((key ^ prefix) & high) == 0) atomicAdd(&h[(key >> shift) & 255u], 1ull);
  }
  __syncthreads();
  for (int b = threadIdx.x; b < 256; b += kThreads)
    if (h[b] != 0) atomicAdd(&s->hist[b], h[b]);
}

// Picks the bin that holds the remaining-th largest key (counts are exact, so one always does), and clears
// the histogram for the next pass.
__global__ void topk_select(TopKState* s, int shift) {
  if (threadIdx.x == 0) {
    const int64_t need = s->remaining;
    int64_t above = 0;
    for (int b = 255; b >= 0; --b) {
      const int64_t c = static_cast<int64_t>(s->hist[b]);
      if (above + c >= need) {
        s->prefix |= static_cast<uint32_t>(b) << shift;
        s->remaining = need - above;
        s->ties = c;  // after the last pass: the entries equal to the threshold
        break;
      }
      above += c;
    }
    if (shift == 0) s->threshold = static_cast<double>(__uint_as_float(s->prefix));
  }
  __syncthreads();
  for (int b = threadIdx.x; b < 256; b += blockDim.x) s->hist[b] = 0;
}

// Ties per chunk of kTieChunk elements (only needed when some ties are dropped).
__global__ void __launch_bounds__(kThreads) topk_tie_counts(const float* v, int64_t n, const TopKState* s,
                                                            unsigned int* counts, int64_t chunks) {
  if (s->remaining == s->ties) return;  // every tie is kept
  const uint32_t t = s->prefix;
  for (int64_t c = blockIdx.x; c < chunks; c += gridDim.x) {
    unsigned int count = 0;
    for (int j = 0; j < kTieChunk; j += kThreads) {
      const int64_t i = c * kTieChunk + j + threadIdx.x;
      count += __syncthreads_count(i < n && key_of(v[i]) == t);
    }
    if (threadIdx.x == 0) counts[c] = count;
  }
}

// The index of the remaining-th tie: the chunk from the counts (each thread sums a run of them, thread 0
// walks the runs, the owner of the run walks its chunks), then warp 0 walks that chunk 32 at a time.
__global__ void __launch_bounds__(kThreads) topk_cutoff(const float* v, int64_t n, TopKState* s,
                                                        const unsigned int* counts, int64_t chunks) {
  if (s->remaining == s->ties) {
    if (threadIdx.x == 0) s->cutoff = INT64_MAX;
    return;
  }
  __shared__ int64_t run_sum[kThreads];
  __shared__ int64_t found_run, need_in_run, found_chunk, need_in_chunk;
  const int64_t per = (chunks + kThreads - 1) / kThreads;
  const int64_t c0 = threadIdx.x * per, c1 = c0 + per < chunks ? c0 + per : chunks;
  int64_t sum = 0;
  for (int64_t c = c0; c < c1; ++c) sum += counts[c];
  run_sum[threadIdx.x] = sum;
  if (threadIdx.x == 0) found_run = -1, found_chunk = -1;
  __syncthreads();
  if (threadIdx.x == 0) {
    int64_t need = s->remaining;
    for (int r = 0; r < kThreads; ++r) {
      if (run_sum[r] >= need) {
        found_run = r, need_in_run = need;
        break;
      }
      need -= run_sum[r];
    }
  }
  __syncthreads();
  if (threadIdx.x == found_run) {
    int64_t need = need_in_run;
    for (int64_t c = c0; c < c1; ++c) {
      if (counts[c] >= need) {
        found_chunk = c, need_in_chunk = need;
        break;
      }
      need -= counts[c];
    }
  }
  __syncthreads();
  if (threadIdx.x >= detail::kWarp) return;
  if (found_chunk < 0) {  // cannot happen (the counts hold every tie); keep them all rather than guess
    if (threadIdx.x == 0) s->cutoff = INT64_MAX;
    return;
  }
  const uint32_t t = s->prefix;
  const unsigned int lane = threadIdx.x;
  int64_t need = need_in_chunk;
  const int64_t end = (found_chunk + 1) * kTieChunk < n ? (found_chunk + 1) * kTieChunk : n;
  for (int64_t base = found_chunk * kTieChunk; base < end; base += detail::kWarp) {
    const int64_t i = base + lane;
    const bool tie = i < end && key_of(v[i]) == t;
    const unsigned int ballot = __ballot_sync(0xffffffffu, tie);
    const int count = __popc(ballot);
    if (count >= need) {  // warp-uniform
      const int rank = __popc(ballot & ((2u << lane) - 1u));  // ties at lanes <= this one (lane 31: 2u << 31 == 0)
      if (tie && rank == need) s->cutoff = i;
      return;
    }
    need -= count;
  }
  if (lane == 0) s->cutoff = INT64_MAX;  // not reached (see above)
}

// Zeroes every entry below the threshold and the ties past the cutoff.
__global__ void topk_apply(float* v, int64_t n, const TopKState* s) {
  const uint32_t t = s->prefix;
  const int64_t cutoff = s->cutoff;
  for (int64_t i = detail::first_index(); i < n; i += detail::grid_stride()) {
    const uint32_t key = key_of(v[i]);
    if (key > t || (key == t && i <= cutoff)) continue;
    v[i] = 0.0f;
  }
}

bool launch_top_k(float* v, int64_t n, int64_t keep, TopKState* s, unsigned int* counts, int64_t chunks,
                  std::string* error) {
  const unsigned int grid = detail::grid_for(n);
  topk_init<<<1, kThreads, 0, detail::stream()>>>(s, keep);
  if (!detail::launched("project_top_k init", error)) return false;
  for (int shift = 24; shift >= 0; shift -= 8) {
    topk_histogram<<<grid, kThreads, 0, detail::stream()>>>(v, n, s, shift);
    if (!detail::launched("project_top_k histogram", error)) return false;
    topk_select<<<1, kThreads, 0, detail::stream()>>>(s, shift);
    if (!detail::launched("project_top_k select", error)) return false;
  }
  topk_tie_counts<<<detail::grid_for(chunks, 1), kThreads, 0, detail::stream()>>>(v, n, s, counts, chunks);
  if (!detail::launched("project_top_k tie counts", error)) return false;
  topk_cutoff<<<1, kThreads, 0, detail::stream()>>>(v, n, s, counts, chunks);
  if (!detail::launched("project_top_k cutoff", error)) return false;
  topk_apply<<<grid, kThreads, 0, detail::stream()>>>(v, n, s);
  return detail::launched("project_top_k apply", error);
}

}  // namespace

bool diff_prune_forward(const DiffPruneArgs& a, const float* w, float* w_out, float* z_out, double* penalty_dev,
                        std::string* error) {
  const float shift = penalty_shift(a.gate);
  if (a.structured) {
    // At least one block, so that the penalty is written even for n == 0 (the CPU returns its term then too).
    const unsigned int grid = a.n > 0 ? detail::grid_for(a.n) : 1;
    forward_structured<<<grid, kThreads, 0, detail::stream()>>>(a, w, w_out, z_out, shift, penalty_dev);
    return detail::launched("diff_prune_forward", error);
  }
  const unsigned int grid = reduce_grid(quads(a.n));
  Scratch partials(grid * sizeof(double), error);
  if (!partials) return false;
  forward_gates<<<grid, kThreads, 0, detail::stream()>>>(a, w, w_out, z_out, shift, partials.as<double>());
  if (!detail::launched("diff_prune_forward", error)) return false;
  sum_partials<<<1, kThreads, 0, detail::stream()>>>(partials.as<double>(), static_cast<int>(grid), penalty_dev);
  return detail::launched("diff_prune_forward penalty", error);
}

bool diff_prune_backward(const DiffPruneArgs& a, const float* dw, float lambda, const float* gates, float* d_delta,
                         float* d_log_alpha, std::string* error) {
  const float shift = penalty_shift(a.gate);
  if (a.structured) {
    const unsigned int grid = reduce_grid(a.n);
    Scratch partials(grid * sizeof(double), error);
    if (!partials) return false;
    backward_structured<<<grid, kThreads, 0, detail::stream()>>>(a, dw, d_delta, partials.as<double>());
    if (!detail::launched("diff_prune_backward", error)) return false;
    backward_structured_finish<<<1, kThreads, 0, detail::stream()>>>(a, lambda, shift, partials.as<double>(),
                                                                     static_cast<int>(grid), d_log_alpha);
    return detail::launched("diff_prune_backward d_log_alpha", error);
  }
  if (a.n == 0) return true;
  if (gates != nullptr) {
    const float slope = 1.0f / ((a.gate.zeta - a.gate.gamma) * (a.training ? a.gate.beta : 1.0f));
    backward_from_gates<<<detail::grid_for(a.n), kThreads, 0, detail::stream()>>>(a, dw, lambda, gates, shift, slope,
                                                                                 d_delta, d_log_alpha);
  } else {
    backward_gates<<<detail::grid_for(quads(a.n)), kThreads, 0, detail::stream()>>>(a, dw, lambda, shift, d_delta,
                                                                                   d_log_alpha);
  }
  return detail::launched("diff_prune_backward", error);
}

bool project_top_k(float* v, int64_t n, int64_t keep, float* threshold, std::string* error) {
  if (keep >= n) {
    *threshold = 0.0f;
    return true;
  }
  if (keep <= 0) {
    *threshold = INFINITY;
    return detail::ok(cudaMemsetAsync(v, 0, static_cast<size_t>(n) * sizeof(float), detail::stream()),
                      "project_top_k memset", error);
  }
  const int64_t chunks = (n + kTieChunk - 1) / kTieChunk;
  Scratch state(sizeof(TopKState), error);
  if (!state) return false;
  Scratch counts(static_cast<size_t>(chunks) * sizeof(unsigned int), error);
  if (!counts) return false;
  TopKState* s = state.as<TopKState>();
  if (!launch_top_k(v, n, keep, s, counts.as<unsigned int>(), chunks, error)) return false;
  double host = 0.0;
  // The one synchronisation: the threshold is a host value (device_api.h). The scratch is released after it.
  if (!read_double(&s->threshold, &host, error)) return false;
  *threshold = static_cast<float>(host);
  return true;
}

}  // namespace cuda
}  // namespace peftjs
