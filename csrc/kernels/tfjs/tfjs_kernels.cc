// The tfjs backend's kernels (tfjs_kernels.h). Data-parallel loops over the thread pool; the heavy work of
// matmul and convolution is the one float32 GEMM (csrc/kernels/gemm).
#include "tfjs_kernels.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <vector>

#include "../../runtime/thread_pool.h"
#include "../elementwise/elementwise.h"

namespace peftjs {
namespace tfjs {
namespace {

constexpr int64_t kGrain = 16384;

template <BinaryOp OP>
inline float apply(float a, float b) {
  if constexpr (OP == BinaryOp::Add) return a + b;
  if constexpr (OP == BinaryOp::Sub) return a - b;
  if constexpr (OP == BinaryOp::Mul) return a * b;
  if constexpr (OP == BinaryOp::Div) return a / b;
  if constexpr (OP == BinaryOp::Max) return (a != a || b != b) ? std::numeric_limits<float>::quiet_NaN() : (a > b ? a : b);
  if constexpr (OP == BinaryOp::Min) return (a != a || b != b) ? std::numeric_limits<float>::quiet_NaN() : (a < b ? a : b);
  if constexpr (OP == BinaryOp::SquaredDiff) {
    const float d = a - b;
    return d * d;
  }
  if constexpr (OP == BinaryOp::EluGrad) return b >= 0 ? a : a * (b + 1.0f);
}

// One row of the innermost dimension, specialised on the inner strides so the common cases vectorise.
template <BinaryOp OP>
inline void binary_row(const float* a, int64_t sa, const float* b, int64_t sb, float* o, int64_t n) {
  if (sa == 1 && sb == 1) {
    for (int64_t i = 0; i < n; ++i) o[i] = apply<OP>(a[i], b[i]);
  } else if (sa == 1 && sb == 0) {
    const float bv = b[0];
    for (int64_t i = 0; i < n; ++i) o[i] = apply<OP>(a[i], bv);
  } else if (sa == 0 && sb == 1) {
    const float av = a[0];
    for (int64_t i = 0; i < n; ++i) o[i] = apply<OP>(av, b[i]);
  } else {
    for (int64_t i = 0; i < n; ++i) o[i] = apply<OP>(a[i * sa], b[i * sb]);
  }
}

template <BinaryOp OP>
void binary_nd(const float* a, const int64_t* as, const float* b, const int64_t* bs, float* out, const int64_t* shape, int nd) {
  const int64_t inner = shape[nd - 1], sa = as[nd - 1], sb = bs[nd - 1];
  int64_t rows = 1;
  for (int d = 0; d < nd - 1; ++d) rows *= shape[d];
  parallel_for(rows, std::max<int64_t>(1, kGrain / std::max<int64_t>(inner, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      int64_t rem = r, oa = 0, ob = 0;
      for (int d = nd - 2; d >= 0; --d) {
        const int64_t i = rem % shape[d];
        rem /= shape[d];
        oa += i * as[d];
        ob += i * bs[d];
      }
      binary_row<OP>(a + oa, sa, b + ob, sb, out + r * inner, inner);
    }
  });
}

float unary_scalar(UnaryOp op, float x, float alpha) {
  switch (op) {
    case UnaryOp::Relu: return x < 0 ? 0.0f : x;
    case UnaryOp::Relu6: return x != x ? x : std::min(std::max(x, 0.0f), 6.0f);
    case UnaryOp::Sigmoid: return static_cast<float>(1.0 / (1.0 + std::exp(-static_cast<double>(x))));
    case UnaryOp::Tanh: return static_cast<float>(std::tanh(static_cast<double>(x)));
    case UnaryOp::Exp: return static_cast<float>(std::exp(static_cast<double>(x)));
    case UnaryOp::Log: return static_cast<float>(std::log(static_cast<double>(x)));
    case UnaryOp::Sqrt: return std::sqrt(x);
    case UnaryOp::Rsqrt: return static_cast<float>(1.0 / std::sqrt(static_cast<double>(x)));
    case UnaryOp::Square: return x * x;
    case UnaryOp::Abs: return std::fabs(x);
    case UnaryOp::Neg: return -x;
    case UnaryOp::Step: return x != x ? x : (x > 0 ? 1.0f : alpha);
    case UnaryOp::Elu: return x >= 0 ? x : static_cast<float>(std::expm1(static_cast<double>(x)));
    case UnaryOp::LeakyRelu: return x < 0 ? alpha * x : x;
    case UnaryOp::Reciprocal: return 1.0f / x;
  }
  return x;
}

template <ReduceOp OP>
inline float init() {
  if constexpr (OP == ReduceOp::Max) return -std::numeric_limits<float>::infinity();
  if constexpr (OP == ReduceOp::Min) return std::numeric_limits<float>::infinity();
  if constexpr (OP == ReduceOp::Prod) return 1.0f;
  return 0.0f;
}

template <ReduceOp OP>
inline float combine(float acc, float v) {
  if constexpr (OP == ReduceOp::Max) return (v > acc || v != v) ? v : acc;
  if constexpr (OP == ReduceOp::Min) return (v < acc || v != v) ? v : acc;
  if constexpr (OP == ReduceOp::Prod) return acc * v;
  return acc + v;
}

template <ReduceOp OP>
void reduce_t(const float* a, float* out, int64_t outer, int64_t red, int64_t inner) {
  if (inner == 1) {
    parallel_for(outer, std::max<int64_t>(1, kGrain / std::max<int64_t>(red, 1)), [&](int64_t o0, int64_t o1) {
      for (int64_t o = o0; o < o1; ++o) {
        const float* row = a + o * red;
        if constexpr (OP == ReduceOp::Sum || OP == ReduceOp::Mean) {
          // Eight running sums (vectorisable) in double-free float, then combined.
          float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
          int64_t r = 0;
          for (; r + 8 <= red; r += 8)
            for (int j = 0; j < 8; ++j) s[j] += row[r + j];
          float acc = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
          for (; r < red; ++r) acc += row[r];
          out[o] = OP == ReduceOp::Mean ? acc / static_cast<float>(red) : acc;
        } else {
          float acc = init<OP>();
          for (int64_t r = 0; r < red; ++r) acc = combine<OP>(acc, row[r]);
          out[o] = acc;
        }
      }
    });
    return;
  }
  // Reduce over the middle axis: rows of `inner` accumulated in place, split over (outer, inner chunks).
  const int64_t chunk = std::min<int64_t>(inner, 1024);
  const int64_t chunks_per = (inner + chunk - 1) / chunk;
  parallel_for(outer * chunks_per, std::max<int64_t>(1, kGrain / std::max<int64_t>(red * chunk, 1)), [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t o = t / chunks_per, i0 = (t % chunks_per) * chunk, i1 = std::min(inner, i0 + chunk);
      float* dst = out + o * inner;
      for (int64_t i = i0; i < i1; ++i) dst[i] = init<OP>();
      for (int64_t r = 0; r < red; ++r) {
        const float* src = a + (o * red + r) * inner;
        for (int64_t i = i0; i < i1; ++i) dst[i] = combine<OP>(dst[i], src[i]);
      }
      if constexpr (OP == ReduceOp::Mean)
        for (int64_t i = i0; i < i1; ++i) dst[i] /= static_cast<float>(red);
    }
  });
}

// Rows [r0, r1) of the im2col matrix of the batch: row (b, oh, ow), columns (kh, kw, c), zeros outside.
void im2col(const Conv2dGeom& g, const float* x, float* col, int64_t r0, int64_t r1) {
  const int64_t kcols = g.fh * g.fw * g.in_c;
  parallel_for(r1 - r0, std::max<int64_t>(1, kGrain / std::max<int64_t>(kcols, 1)), [&](int64_t s, int64_t e) {
    for (int64_t r = r0 + s; r < r0 + e; ++r) {
      const int64_t b = r / (g.out_h * g.out_w), rem = r % (g.out_h * g.out_w), oh = rem / g.out_w, ow = rem % g.out_w;
      float* dst = col + (r - r0) * kcols;
      for (int64_t kh = 0; kh < g.fh; ++kh) {
        const int64_t ih = oh * g.stride_h - g.pad_top + kh * g.dil_h;
        for (int64_t kw = 0; kw < g.fw; ++kw) {
          const int64_t iw = ow * g.stride_w - g.pad_left + kw * g.dil_w;
          float* d = dst + (kh * g.fw + kw) * g.in_c;
          if (ih < 0 || ih >= g.in_h || iw < 0 || iw >= g.in_w) std::memset(d, 0, sizeof(float) * g.in_c);
          else std::memcpy(d, x + ((b * g.in_h + ih) * g.in_w + iw) * g.in_c, sizeof(float) * g.in_c);
        }
      }
    }
  });
}

// dx += col2im(dcol) for the whole images [b0, b1) (dcol's rows start at image b0); one task per image.
void col2im(const Conv2dGeom& g, const float* dcol, float* dx, int64_t b0, int64_t b1) {
  const int64_t kcols = g.fh * g.fw * g.in_c, per_image = g.out_h * g.out_w;
  parallel_for(b1 - b0, 1, [&](int64_t s, int64_t e) {
    for (int64_t b = b0 + s; b < b0 + e; ++b) {
      float* img = dx + b * g.in_h * g.in_w * g.in_c;
      for (int64_t p = 0; p < per_image; ++p) {
        const int64_t oh = p / g.out_w, ow = p % g.out_w;
        const float* src = dcol + ((b - b0) * per_image + p) * kcols;
        for (int64_t kh = 0; kh < g.fh; ++kh) {
          const int64_t ih = oh * g.stride_h - g.pad_top + kh * g.dil_h;
          if (ih < 0 || ih >= g.in_h) continue;
          for (int64_t kw = 0; kw < g.fw; ++kw) {
            const int64_t iw = ow * g.stride_w - g.pad_left + kw * g.dil_w;
            if (iw < 0 || iw >= g.in_w) continue;
            float* d = img + (ih * g.in_w + iw) * g.in_c;
            const float* v = src + (kh * g.fw + kw) * g.in_c;
            for (int64_t c = 0; c < g.in_c; ++c) d[c] += v[c];
          }
        }
      }
    }
  });
}

bool pointwise(const Conv2dGeom& g) {
  return g.fh == 1 && g.fw == 1 && g.stride_h == 1 && g.stride_w == 1 && g.pad_top == 0 && g.pad_left == 0 &&
         g.out_h == g.in_h && g.out_w == g.in_w;
}

// Images per im2col chunk: about 8M floats of scratch at most, at least one image.
int64_t images_per_chunk(const Conv2dGeom& g) {
  const int64_t per = std::max<int64_t>(1, g.out_h * g.out_w * g.fh * g.fw * g.in_c);
  return std::max<int64_t>(1, std::min<int64_t>(g.batch, (int64_t{8} << 20) / per));
}

GemmArgs gemm_args(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b,
                   int64_t ldb, float beta, float* c, int64_t ldc) {
  GemmArgs g;
  g.trans_a = ta;
  g.trans_b = tb;
  g.m = m;
  g.n = n;
  g.k = k;
  g.a = a;
  g.lda = lda;
  g.b = b;
  g.ldb = ldb;
  g.beta = beta;
  g.c = c;
  g.ldc = ldc;
  return g;
}

}  // namespace

void broadcast_binary(BinaryOp op, const float* a, const int64_t* a_strides, const float* b, const int64_t* b_strides,
                      float* out, const int64_t* shape, int ndim) {
  // Drop size-1 dimensions and merge neighbours that are contiguous in both inputs.
  int64_t sh[17], as[17], bs[17];
  int nd = 0;
  for (int d = 0; d < ndim; ++d) {
    if (shape[d] == 0) return;
    if (shape[d] == 1) continue;
    if (nd > 0 && as[nd - 1] == a_strides[d] * shape[d] && bs[nd - 1] == b_strides[d] * shape[d]) {
      sh[nd - 1] *= shape[d];
      as[nd - 1] = a_strides[d];
      bs[nd - 1] = b_strides[d];
      continue;
    }
    sh[nd] = shape[d];
    as[nd] = a_strides[d];
    bs[nd] = b_strides[d];
    ++nd;
  }
  if (nd == 0) {
    sh[0] = 1;
    as[0] = bs[0] = 0;
    nd = 1;
  }
  switch (op) {
    case BinaryOp::Add: return binary_nd<BinaryOp::Add>(a, as, b, bs, out, sh, nd);
    case BinaryOp::Sub: return binary_nd<BinaryOp::Sub>(a, as, b, bs, out, sh, nd);
    case BinaryOp::Mul: return binary_nd<BinaryOp::Mul>(a, as, b, bs, out, sh, nd);
    case BinaryOp::Div: return binary_nd<BinaryOp::Div>(a, as, b, bs, out, sh, nd);
    case BinaryOp::Max: return binary_nd<BinaryOp::Max>(a, as, b, bs, out, sh, nd);
    case BinaryOp::Min: return binary_nd<BinaryOp::Min>(a, as, b, bs, out, sh, nd);
    case BinaryOp::SquaredDiff: return binary_nd<BinaryOp::SquaredDiff>(a, as, b, bs, out, sh, nd);
    case BinaryOp::EluGrad: return binary_nd<BinaryOp::EluGrad>(a, as, b, bs, out, sh, nd);
  }
}

void unary(UnaryOp op, const float* a, float* out, int64_t n, float alpha) {
  parallel_for(n, kGrain, [&](int64_t s, int64_t e) {
    switch (op) {
      case UnaryOp::Relu:
        for (int64_t i = s; i < e; ++i) out[i] = a[i] < 0 ? 0.0f : a[i];
        return;
      case UnaryOp::Square:
        for (int64_t i = s; i < e; ++i) out[i] = a[i] * a[i];
        return;
      case UnaryOp::Neg:
        for (int64_t i = s; i < e; ++i) out[i] = -a[i];
        return;
      case UnaryOp::Sqrt:
        for (int64_t i = s; i < e; ++i) out[i] = std::sqrt(a[i]);
        return;
      case UnaryOp::Abs:
        for (int64_t i = s; i < e; ++i) out[i] = std::fabs(a[i]);
        return;
      default:
        for (int64_t i = s; i < e; ++i) out[i] = unary_scalar(op, a[i], alpha);
    }
  });
}

void reduce(ReduceOp op, const float* a, float* out, int64_t outer, int64_t red, int64_t inner) {
  switch (op) {
    case ReduceOp::Sum: return reduce_t<ReduceOp::Sum>(a, out, outer, red, inner);
    case ReduceOp::Mean: return reduce_t<ReduceOp::Mean>(a, out, outer, red, inner);
    case ReduceOp::Max: return reduce_t<ReduceOp::Max>(a, out, outer, red, inner);
    case ReduceOp::Min: return reduce_t<ReduceOp::Min>(a, out, outer, red, inner);
    case ReduceOp::Prod: return reduce_t<ReduceOp::Prod>(a, out, outer, red, inner);
  }
}

void batch_matmul(const float* a, const float* b, float* c, int64_t batch, int64_t m, int64_t n, int64_t k, bool trans_a,
                  bool trans_b, int64_t a_stride, int64_t b_stride, const float* bias, Activation act) {
  auto one = [&](int64_t i) {
    GemmArgs g = gemm_args(trans_a, trans_b, m, n, k, a + i * a_stride, trans_a ? m : k, b + i * b_stride, trans_b ? k : n,
                           0.0f, c + i * m * n, n);
    g.bias = bias;
    g.act = act;
    gemm(g);
  };
  // One GEMM per task (each on its own thread, one parallel region for the whole batch) when the products are
  // small or there are enough of them to share out evenly: a parallel region per GEMM costs a wake-up and a
  // barrier each, which on a loaded machine (another process on the cores) is milliseconds per GEMM, e.g.
  // attention's 64 products of 256x256x64 took ~100 ms that way against ~5 ms as tasks. Few large
  // products: each GEMM uses the pool.
  const int64_t threads = std::max(1, num_threads());
  if (batch > 1 && (m * n * k < (int64_t{1} << 21) || batch >= 4 * threads)) parallel_tasks(batch, one);
  else
    for (int64_t i = 0; i < batch; ++i) one(i);
}

void gather(const float* x, const int32_t* idx, float* out, int64_t batch, int64_t outer, int64_t dim, int64_t n_idx,
            int64_t slice) {
  const int64_t rows = batch * outer * n_idx;
  parallel_for(rows, std::max<int64_t>(1, kGrain / std::max<int64_t>(slice, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t i = r % n_idx, bo = r / n_idx, b = bo / outer;
      const float* src = x + (bo * dim + idx[b * n_idx + i]) * slice;
      std::memcpy(out + r * slice, src, sizeof(float) * slice);
    }
  });
}

void batch_norm(const float* x, float* out, int64_t n, const float* mean, int64_t m_len, const float* var, int64_t v_len,
                const float* offset, int64_t o_len, const float* scale, int64_t s_len, double eps) {
  parallel_for(n, kGrain, [&](int64_t s, int64_t e) {
    int64_t mi = s % m_len, vi = s % v_len, oi = offset ? s % o_len : 0, si = scale ? s % s_len : 0;
    for (int64_t i = s; i < e; ++i) {
      const double off = offset ? static_cast<double>(offset[oi]) : 0.0, sc = scale ? static_cast<double>(scale[si]) : 1.0;
      out[i] = static_cast<float>(off + (static_cast<double>(x[i]) - mean[mi]) * sc / std::sqrt(static_cast<double>(var[vi]) + eps));
      if (++mi == m_len) mi = 0;
      if (++vi == v_len) vi = 0;
      if (offset && ++oi == o_len) oi = 0;
      if (scale && ++si == s_len) si = 0;
    }
  });
}

void conv2d_forward(const Conv2dGeom& g, const float* x, const float* w, float* y, const float* bias, Activation act) {
  const int64_t kcols = g.fh * g.fw * g.in_c, per_image = g.out_h * g.out_w;
  if (pointwise(g)) {
    GemmArgs a = gemm_args(false, false, g.batch * per_image, g.out_c, g.in_c, x, g.in_c, w, g.out_c, 0.0f, y, g.out_c);
    a.bias = bias;
    a.act = act;
    gemm(a);
    return;
  }
  const int64_t chunk = images_per_chunk(g);
  std::unique_ptr<float[]> col(new float[chunk * per_image * kcols]);
  for (int64_t b0 = 0; b0 < g.batch; b0 += chunk) {
    const int64_t b1 = std::min(g.batch, b0 + chunk), rows = (b1 - b0) * per_image;
    im2col(g, x, col.get(), b0 * per_image, b1 * per_image);
    GemmArgs a = gemm_args(false, false, rows, g.out_c, kcols, col.get(), kcols, w, g.out_c, 0.0f,
                           y + b0 * per_image * g.out_c, g.out_c);
    a.bias = bias;
    a.act = act;
    gemm(a);
  }
}

void conv2d_backprop_input(const Conv2dGeom& g, const float* dy, const float* w, float* dx) {
  const int64_t kcols = g.fh * g.fw * g.in_c, per_image = g.out_h * g.out_w;
  if (pointwise(g)) {
    gemm(gemm_args(false, true, g.batch * per_image, g.in_c, g.out_c, dy, g.out_c, w, g.out_c, 0.0f, dx, g.in_c));
    return;
  }
  std::fill(dx, dx + g.batch * g.in_h * g.in_w * g.in_c, 0.0f);
  const int64_t chunk = images_per_chunk(g);
  std::unique_ptr<float[]> col(new float[chunk * per_image * kcols]);
  for (int64_t b0 = 0; b0 < g.batch; b0 += chunk) {
    const int64_t b1 = std::min(g.batch, b0 + chunk), rows = (b1 - b0) * per_image;
    // dcol [rows, kcols] = dy [rows, out_c] W^T, W stored [kcols, out_c].
    gemm(gemm_args(false, true, rows, kcols, g.out_c, dy + b0 * per_image * g.out_c, g.out_c, w, g.out_c, 0.0f, col.get(),
                   kcols));
    col2im(g, col.get(), dx, b0, b1);
  }
}

void conv2d_backprop_filter(const Conv2dGeom& g, const float* x, const float* dy, float* dw) {
  const int64_t kcols = g.fh * g.fw * g.in_c, per_image = g.out_h * g.out_w;
  if (pointwise(g)) {
    gemm(gemm_args(true, false, g.in_c, g.out_c, g.batch * per_image, x, g.in_c, dy, g.out_c, 0.0f, dw, g.out_c));
    return;
  }
  if (g.batch * per_image == 0) {
    std::fill(dw, dw + kcols * g.out_c, 0.0f);
    return;
  }
  const int64_t chunk = images_per_chunk(g);
  std::unique_ptr<float[]> col(new float[chunk * per_image * kcols]);
  for (int64_t b0 = 0; b0 < g.batch; b0 += chunk) {
    const int64_t b1 = std::min(g.batch, b0 + chunk), rows = (b1 - b0) * per_image;
    im2col(g, x, col.get(), b0 * per_image, b1 * per_image);
    // dW [kcols, out_c] (+)= col^T dy.
    gemm(gemm_args(true, false, kcols, g.out_c, rows, col.get(), kcols, dy + b0 * per_image * g.out_c, g.out_c,
                   b0 == 0 ? 0.0f : 1.0f, dw, g.out_c));
  }
}

void depthwise_conv2d_forward(const Conv2dGeom& g, const float* x, const float* w, float* y) {
  const int64_t mul = g.out_c / g.in_c;
  parallel_for(g.batch * g.out_h, 1, [&](int64_t s, int64_t e) {
    for (int64_t t = s; t < e; ++t) {
      const int64_t b = t / g.out_h, oh = t % g.out_h;
      float* row = y + t * g.out_w * g.out_c;
      std::fill(row, row + g.out_w * g.out_c, 0.0f);
      for (int64_t kh = 0; kh < g.fh; ++kh) {
        const int64_t ih = oh * g.stride_h - g.pad_top + kh * g.dil_h;
        if (ih < 0 || ih >= g.in_h) continue;
        for (int64_t ow = 0; ow < g.out_w; ++ow) {
          float* o = row + ow * g.out_c;
          for (int64_t kw = 0; kw < g.fw; ++kw) {
            const int64_t iw = ow * g.stride_w - g.pad_left + kw * g.dil_w;
            if (iw < 0 || iw >= g.in_w) continue;
            const float* xp = x + ((b * g.in_h + ih) * g.in_w + iw) * g.in_c;
            const float* wp = w + (kh * g.fw + kw) * g.out_c;
            if (mul == 1) {
              for (int64_t c = 0; c < g.in_c; ++c) o[c] += xp[c] * wp[c];
            } else {
              for (int64_t c = 0; c < g.in_c; ++c)
                for (int64_t q = 0; q < mul; ++q) o[c * mul + q] += xp[c] * wp[c * mul + q];
            }
          }
        }
      }
    }
  });
}

void depthwise_conv2d_backprop_input(const Conv2dGeom& g, const float* dy, const float* w, float* dx) {
  const int64_t mul = g.out_c / g.in_c;
  std::fill(dx, dx + g.batch * g.in_h * g.in_w * g.in_c, 0.0f);
  // One task per image: the windows of an image overlap only within it.
  parallel_for(g.batch, 1, [&](int64_t s, int64_t e) {
    for (int64_t b = s; b < e; ++b)
      for (int64_t oh = 0; oh < g.out_h; ++oh)
        for (int64_t kh = 0; kh < g.fh; ++kh) {
          const int64_t ih = oh * g.stride_h - g.pad_top + kh * g.dil_h;
          if (ih < 0 || ih >= g.in_h) continue;
          for (int64_t ow = 0; ow < g.out_w; ++ow) {
            const float* d = dy + ((b * g.out_h + oh) * g.out_w + ow) * g.out_c;
            for (int64_t kw = 0; kw < g.fw; ++kw) {
              const int64_t iw = ow * g.stride_w - g.pad_left + kw * g.dil_w;
              if (iw < 0 || iw >= g.in_w) continue;
              float* xp = dx + ((b * g.in_h + ih) * g.in_w + iw) * g.in_c;
              const float* wp = w + (kh * g.fw + kw) * g.out_c;
              if (mul == 1) {
                for (int64_t c = 0; c < g.in_c; ++c) xp[c] += d[c] * wp[c];
              } else {
                for (int64_t c = 0; c < g.in_c; ++c) {
                  float acc = 0.0f;
                  for (int64_t q = 0; q < mul; ++q) acc += d[c * mul + q] * wp[c * mul + q];
                  xp[c] += acc;
                }
              }
            }
          }
        }
  });
}

void depthwise_conv2d_backprop_filter(const Conv2dGeom& g, const float* x, const float* dy, float* dw) {
  const int64_t mul = g.out_c / g.in_c;
  // One task per filter tap (kh, kw): it owns dw[kh, kw, :, :].
  parallel_for(g.fh * g.fw, 1, [&](int64_t s, int64_t e) {
    for (int64_t tap = s; tap < e; ++tap) {
      const int64_t kh = tap / g.fw, kw = tap % g.fw;
      float* wp = dw + tap * g.out_c;
      std::fill(wp, wp + g.out_c, 0.0f);
      for (int64_t b = 0; b < g.batch; ++b)
        for (int64_t oh = 0; oh < g.out_h; ++oh) {
          const int64_t ih = oh * g.stride_h - g.pad_top + kh * g.dil_h;
          if (ih < 0 || ih >= g.in_h) continue;
          for (int64_t ow = 0; ow < g.out_w; ++ow) {
            const int64_t iw = ow * g.stride_w - g.pad_left + kw * g.dil_w;
            if (iw < 0 || iw >= g.in_w) continue;
            const float* xp = x + ((b * g.in_h + ih) * g.in_w + iw) * g.in_c;
            const float* d = dy + ((b * g.out_h + oh) * g.out_w + ow) * g.out_c;
            if (mul == 1) {
              for (int64_t c = 0; c < g.in_c; ++c) wp[c] += xp[c] * d[c];
            } else {
              for (int64_t c = 0; c < g.in_c; ++c)
                for (int64_t q = 0; q < mul; ++q) wp[c * mul + q] += xp[c] * d[c * mul + q];
            }
          }
        }
    }
  });
}

void pool2d(bool is_max, const Conv2dGeom& g, const float* x, float* y) {
  const int64_t c = g.in_c;
  parallel_for(g.batch * g.out_h, 1, [&](int64_t s, int64_t e) {
    std::vector<float> acc(c);
    for (int64_t t = s; t < e; ++t) {
      const int64_t b = t / g.out_h, oh = t % g.out_h;
      for (int64_t ow = 0; ow < g.out_w; ++ow) {
        std::fill(acc.begin(), acc.end(), is_max ? -std::numeric_limits<float>::infinity() : 0.0f);
        int64_t n = 0;
        for (int64_t kh = 0; kh < g.fh; ++kh) {
          const int64_t ih = oh * g.stride_h - g.pad_top + kh * g.dil_h;
          if (ih < 0 || ih >= g.in_h) continue;
          for (int64_t kw = 0; kw < g.fw; ++kw) {
            const int64_t iw = ow * g.stride_w - g.pad_left + kw * g.dil_w;
            if (iw < 0 || iw >= g.in_w) continue;
            const float* p = x + ((b * g.in_h + ih) * g.in_w + iw) * c;
            ++n;
            if (is_max)
              for (int64_t ch = 0; ch < c; ++ch) acc[ch] = p[ch] > acc[ch] ? p[ch] : acc[ch];  // NaN never wins (tfjs cpu)
            else
              for (int64_t ch = 0; ch < c; ++ch) acc[ch] += p[ch];
          }
        }
        float* out = y + ((b * g.out_h + oh) * g.out_w + ow) * c;
        if (is_max) std::copy(acc.begin(), acc.end(), out);
        else
          for (int64_t ch = 0; ch < c; ++ch) out[ch] = acc[ch] / static_cast<float>(n);
      }
    }
  });
}

void max_pool2d_backprop(const Conv2dGeom& g, const float* x, const float* dy, float* dx) {
  const int64_t c = g.in_c;
  std::fill(dx, dx + g.batch * g.in_h * g.in_w * c, 0.0f);
  // One task per image: windows overlap only within an image.
  parallel_for(g.batch, 1, [&](int64_t s, int64_t e) {
    std::vector<float> best(c);
    std::vector<int64_t> where(c);
    for (int64_t b = s; b < e; ++b) {
      for (int64_t oh = 0; oh < g.out_h; ++oh)
        for (int64_t ow = 0; ow < g.out_w; ++ow) {
          std::fill(best.begin(), best.end(), -std::numeric_limits<float>::infinity());
          std::fill(where.begin(), where.end(), -1);
          for (int64_t kh = 0; kh < g.fh; ++kh) {
            const int64_t ih = oh * g.stride_h - g.pad_top + kh * g.dil_h;
            if (ih < 0 || ih >= g.in_h) continue;
            for (int64_t kw = 0; kw < g.fw; ++kw) {
              const int64_t iw = ow * g.stride_w - g.pad_left + kw * g.dil_w;
              if (iw < 0 || iw >= g.in_w) continue;
              const int64_t pos = ((b * g.in_h + ih) * g.in_w + iw) * c;
              for (int64_t ch = 0; ch < c; ++ch)
                if (x[pos + ch] > best[ch]) {
                  best[ch] = x[pos + ch];
                  where[ch] = pos + ch;
                }
            }
          }
          const float* d = dy + ((b * g.out_h + oh) * g.out_w + ow) * c;
          for (int64_t ch = 0; ch < c; ++ch)
            if (where[ch] >= 0) dx[where[ch]] += d[ch];
        }
    }
  });
}

void avg_pool2d_backprop(const Conv2dGeom& g, const float* dy, float* dx) {
  const int64_t c = g.in_c;
  const float scale = 1.0f / static_cast<float>(g.fh * g.fw);
  std::fill(dx, dx + g.batch * g.in_h * g.in_w * c, 0.0f);
  parallel_for(g.batch, 1, [&](int64_t s, int64_t e) {
    for (int64_t b = s; b < e; ++b)
      for (int64_t oh = 0; oh < g.out_h; ++oh)
        for (int64_t ow = 0; ow < g.out_w; ++ow) {
          const float* d = dy + ((b * g.out_h + oh) * g.out_w + ow) * c;
          for (int64_t kh = 0; kh < g.fh; ++kh) {
            const int64_t ih = oh * g.stride_h - g.pad_top + kh * g.dil_h;
            if (ih < 0 || ih >= g.in_h) continue;
            for (int64_t kw = 0; kw < g.fw; ++kw) {
              const int64_t iw = ow * g.stride_w - g.pad_left + kw * g.dil_w;
              if (iw < 0 || iw >= g.in_w) continue;
              float* o = dx + ((b * g.in_h + ih) * g.in_w + iw) * c;
              for (int64_t ch = 0; ch < c; ++ch) o[ch] += d[ch] * scale;
            }
          }
        }
  });
}

}  // namespace tfjs
}  // namespace peftjs
