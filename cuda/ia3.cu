// (IA)3 on the GPU, with the semantics of csrc/kernels/ia3/ia3.cc:
//   output scaling: y_pre = x W^T + bias, y = y_pre * l [N];  dl = colsum(dy * y_pre), dx = (dy * l) W
//   input scaling:  y = (x * l) W^T + bias, l [K];            h = dy W, dl = colsum(h * x), dx = h * l
// The products go through cuda::gemm. cuda::gemm refuses col_scale / pre_out (gemm_support.h), so the output
// scaling is a separate small kernel after the GEMM rather than its epilogue (one more pass over y). As on
// the CPU, the input scaling (and the output scaling's dx) scales whichever operand is smaller, in
// stream-ordered scratch, so each product rounds exactly as the CPU's does before the GEMM.
// dl is a column sum over T, done as a deterministic two-stage reduction: contiguous row chunks summed in
// order by a thread per column, then the chunks' partials added in order (no atomics: the same bits every
// run). Sums are float32 as on the CPU, in a different order.
#include <cuda_runtime.h>

#include <algorithm>

#include "common.cuh"
#include "device_api.h"

namespace peftjs {
namespace cuda {
namespace {

constexpr int kThreads = detail::kThreads;
// Row chunks of the dl reduction: at least kMinChunkRows rows each, at most kMaxChunks of them. A function
// of the sizes only, so the result does not depend on the device.
constexpr int64_t kMinChunkRows = 64;
constexpr int64_t kMaxChunks = 64;
constexpr int64_t kMaxGridY = 65535;

// out[i, j] = a[i, j] * v[j] (by_row false: a column scale) or a[i, j] * v[i] (by_row true). A block row per
// matrix row (grid-stride over rows), its threads over the columns: no per-element division. out may alias a.
template <bool kByRow>
__global__ void scale_kernel(const float* a, const float* v, int64_t rows, int64_t cols, float* out) {
  const int64_t c0 = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t c_stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = blockIdx.y; i < rows; i += gridDim.y) {
    const float* ra = a + i * cols;
    float* ro = out + i * cols;
    for (int64_t j = c0; j < cols; j += c_stride) ro[j] = __fmul_rn(ra[j], kByRow ? v[i] : v[j]);
  }
}

bool scale(const float* a, const float* v, int64_t rows, int64_t cols, bool by_row, float* out, std::string* error) {
  if (rows == 0 || cols == 0) return true;
  const dim3 grid(detail::grid_for(cols), static_cast<unsigned int>(std::min(rows, kMaxGridY)));
  if (by_row) scale_kernel<true><<<grid, kThreads, 0, detail::stream()>>>(a, v, rows, cols, out);
  else scale_kernel<false><<<grid, kThreads, 0, detail::stream()>>>(a, v, rows, cols, out);
  return detail::launched("ia3 scale", error);
}

// The first stage of out[c] = sum_r a[r, c] * b[r, c]: block (column block, chunk), a thread per column
// summing the chunk's rows in order into part[chunk * cols + c].
__global__ void column_dot_chunks(const float* a, const float* b, int64_t rows, int64_t cols, int64_t chunk_rows,
                                  float* part) {
  const int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= cols) return;
  const int64_t chunk = blockIdx.y;
  const int64_t end = min(rows, (chunk + 1) * chunk_rows);
  float s = 0.0f;
  for (int64_t r = chunk * chunk_rows; r < end; ++r) s = __fadd_rn(s, __fmul_rn(a[r * cols + c], b[r * cols + c]));
  part[chunk * cols + c] = s;
}

// The second stage: out[c] = the chunks' partials added in order (0 with no chunks: T = 0).
__global__ void sum_chunks(const float* part, int64_t chunks, int64_t cols, float* out) {
  for (int64_t c = detail::first_index(); c < cols; c += detail::grid_stride()) {
    float s = 0.0f;
    for (int64_t q = 0; q < chunks; ++q) s += part[q * cols + c];
    out[c] = s;
  }
}

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// out [cols] = column sums of a * b over [rows, cols] (column_ops.h's column_dot), overwritten.
bool column_dot(const float* a, const float* b, int64_t rows, int64_t cols, float* out, std::string* error) {
  if (cols == 0) return true;
  const int64_t col_blocks = ceil_div(cols, kThreads);
  if (col_blocks > 0x7fffffff) {
    if (error) *error = "ia3 dl: " + std::to_string(cols) + " columns is too many for one launch";
    return false;
  }
  const int64_t chunk_rows = rows == 0 ? 1 : ceil_div(rows, std::min(kMaxChunks, ceil_div(rows, kMinChunkRows)));
  const int64_t chunks = ceil_div(rows, chunk_rows);
  if (chunks == 0) {  // no rows: dl = 0, as the CPU's zeroed sums
    sum_chunks<<<detail::grid_for(cols), kThreads, 0, detail::stream()>>>(nullptr, 0, cols, out);
    return detail::launched("ia3 dl", error);
  }
  // One chunk sums straight into out; more go through stream-ordered partials.
  float* part = out;
  if (chunks > 1) {
    part = static_cast<float*>(alloc_async(static_cast<size_t>(chunks * cols) * sizeof(float), error));
    if (part == nullptr) return false;
  }
  const dim3 grid(static_cast<unsigned int>(col_blocks), static_cast<unsigned int>(chunks));
  column_dot_chunks<<<grid, kThreads, 0, detail::stream()>>>(a, b, rows, cols, chunk_rows, part);
  bool ok = detail::launched("ia3 dl", error);
  if (chunks == 1) return ok;
  if (ok) {
    sum_chunks<<<detail::grid_for(cols), kThreads, 0, detail::stream()>>>(part, chunks, cols, out);
    ok = detail::launched("ia3 dl", error);
  }
  const bool freed = free_async(part, ok ? error : nullptr);
  return ok && freed;
}

// `floats` floats of stream-ordered scratch, released when it goes out of scope (after the launches that
// read it were queued).
class Scratch {
 public:
  Scratch(int64_t floats, std::string* error)
      : data_(static_cast<float*>(alloc_async(static_cast<size_t>(std::max<int64_t>(floats, 1)) * sizeof(float), error))) {}
  ~Scratch() { free_async(data_, nullptr); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  float* get() const { return data_; }

 private:
  float* data_;
};

// y [t, n] = x [t, k] W^T + bias, W [n, k].
GemmArgs linear_args(const float* x, const float* w, int64_t t, int64_t n, int64_t k, float* y, const float* bias) {
  GemmArgs g;
  g.trans_b = true;
  g.m = t, g.n = n, g.k = k;
  g.a = x, g.lda = k, g.b = w, g.ldb = k, g.c = y, g.ldc = n, g.bias = bias;
  return g;
}

// dx [t, k] = dy' [t, n] W' [n, k].
GemmArgs back_args(const float* dy, const float* w, int64_t t, int64_t n, int64_t k, float* dx) {
  GemmArgs g;
  g.m = t, g.n = k, g.k = n;
  g.a = dy, g.lda = n, g.b = w, g.ldb = k, g.c = dx, g.ldc = k;
  return g;
}

}  // namespace

bool ia3_forward(const Ia3Args& p, float* y, float* y_pre, std::string* error) {
  if (p.mode == Ia3Mode::Output) {
    // y_pre = x W^T + bias (into y when y_pre is not wanted), then y = y_pre * l.
    float* pre = y_pre != nullptr ? y_pre : y;
    return gemm(linear_args(p.x, p.w, p.t, p.n, p.k, pre, p.bias), error) && scale(pre, p.l, p.t, p.n, false, y, error);
  }
  if (p.t == 0 || p.n == 0) return true;  // nothing to write (the CPU's gemm returns at once too)
  // Input scaling: (x * l) W^T == x (W diag(l))^T; scale the smaller of W [N, K] and x [T, K], as the CPU.
  if (p.n <= p.t) {
    Scratch ws(p.n * p.k, error);
    if (ws.get() == nullptr) return false;
    return scale(p.w, p.l, p.n, p.k, false, ws.get(), error) &&
           gemm(linear_args(p.x, ws.get(), p.t, p.n, p.k, y, p.bias), error);
  }
  Scratch xs(p.t * p.k, error);
  if (xs.get() == nullptr) return false;
  return scale(p.x, p.l, p.t, p.k, false, xs.get(), error) &&
         gemm(linear_args(xs.get(), p.w, p.t, p.n, p.k, y, p.bias), error);
}

bool ia3_backward(const Ia3Args& p, const float* dy, const float* y_pre, float* dx, float* dl, std::string* error) {
  if (p.mode == Ia3Mode::Output) {
    if (!column_dot(dy, y_pre, p.t, p.n, dl, error)) return false;
    if (dx == nullptr || p.t == 0 || p.k == 0) return true;
    // (dy * l) W == dy (diag(l) W): scale the smaller of W [N, K] and dy [T, N], as the CPU.
    if (p.k <= p.t) {
      Scratch ws(p.n * p.k, error);
      if (ws.get() == nullptr) return false;
      return scale(p.w, p.l, p.n, p.k, true, ws.get(), error) && gemm(back_args(dy, ws.get(), p.t, p.n, p.k, dx), error);
    }
    Scratch ds(p.t * p.n, error);
    if (ds.get() == nullptr) return false;
    return scale(dy, p.l, p.t, p.n, false, ds.get(), error) && gemm(back_args(ds.get(), p.w, p.t, p.n, p.k, dx), error);
  }
  // Input scaling: h = dy W (in dx when it is wanted), dl = colsum(h * x), then dx = h * l in place.
  if (dx != nullptr) {
    return gemm(back_args(dy, p.w, p.t, p.n, p.k, dx), error) && column_dot(dx, p.x, p.t, p.k, dl, error) &&
           scale(dx, p.l, p.t, p.k, false, dx, error);
  }
  Scratch h(p.t * p.k, error);
  if (h.get() == nullptr) return false;
  return gemm(back_args(dy, p.w, p.t, p.n, p.k, h.get()), error) && column_dot(h.get(), p.x, p.t, p.k, dl, error);
}

}  // namespace cuda
}  // namespace peftjs
