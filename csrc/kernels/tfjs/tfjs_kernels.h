// Kernels for the TensorFlow.js backend 'peftjs' (lib/tfjs): the shapes tfjs's kernels take that the
// primitives do not cover (N-d broadcasting, reductions over a middle axis, batched matmul with
// broadcast batches, NHWC convolution by im2col + GEMM, pooling). float32, contiguous row-major data.
#pragma once

#include <cstdint>

#include "../gemm/gemm.h"

namespace peftjs {
namespace tfjs {

// EluGrad: a = dy, b = elu's output y: y >= 0 ? dy : dy * (y + 1) (tfjs's EluGrad).
enum class BinaryOp { Add, Sub, Mul, Div, Max, Min, SquaredDiff, EluGrad };
enum class UnaryOp { Relu, Relu6, Sigmoid, Tanh, Exp, Log, Sqrt, Rsqrt, Square, Abs, Neg, Step, Elu, LeakyRelu, Reciprocal };
enum class ReduceOp { Sum, Mean, Max, Min, Prod };

// out[idx] = a[idx . a_strides] op b[idx . b_strides] over the row-major iteration of shape (ndim <= 16);
// a stride of 0 broadcasts that dimension.
void broadcast_binary(BinaryOp op, const float* a, const int64_t* a_strides, const float* b, const int64_t* b_strides,
                      float* out, const int64_t* shape, int ndim);

// out[i] = f(a[i]); alpha is step's value for x <= 0 and leaky relu's slope.
void unary(UnaryOp op, const float* a, float* out, int64_t n, float alpha);

// a is [outer, red, inner]: out[o, i] = reduce over r of a[o, r, i].
void reduce(ReduceOp op, const float* a, float* out, int64_t outer, int64_t red, int64_t inner);

// c[i] = op(a[i]) op(b[i]) for i < batch, a_i = a + i * a_stride (0: broadcast), likewise b; bias [n] and the
// activation as the GEMM's epilogue.
void batch_matmul(const float* a, const float* b, float* c, int64_t batch, int64_t m, int64_t n, int64_t k, bool trans_a,
                  bool trans_b, int64_t a_stride, int64_t b_stride, const float* bias, Activation act);

// x [batch, outer, dim, slice], idx [batch, n_idx] (each in [0, dim)): out [batch, outer, n_idx, slice].
void gather(const float* x, const int32_t* idx, float* out, int64_t batch, int64_t outer, int64_t dim, int64_t n_idx,
            int64_t slice);

// tfjs's batch normalisation: out[i] = offset[i % o_len] + (x[i] - mean[i % m_len]) * scale[i % s_len] /
// sqrt(var[i % v_len] + eps), in double as tfjs's cpu kernel computes it (offset / scale null: 0 / 1).
void batch_norm(const float* x, float* out, int64_t n, const float* mean, int64_t m_len, const float* var, int64_t v_len,
                const float* offset, int64_t o_len, const float* scale, int64_t s_len, double eps);

struct Conv2dGeom {
  int64_t batch, in_h, in_w, in_c, out_h, out_w, out_c, fh, fw, stride_h, stride_w, dil_h, dil_w, pad_top, pad_left;
};

// NHWC input [batch, in_h, in_w, in_c], filter [fh, fw, in_c, out_c], output [batch, out_h, out_w, out_c].
void conv2d_forward(const Conv2dGeom& g, const float* x, const float* w, float* y, const float* bias, Activation act);
void conv2d_backprop_input(const Conv2dGeom& g, const float* dy, const float* w, float* dx);
void conv2d_backprop_filter(const Conv2dGeom& g, const float* x, const float* dy, float* dw);

// Depthwise NHWC convolution: filter [fh, fw, in_c, mul], output channels out_c = in_c * mul, channel c * mul + q
// of the output from input channel c and filter [:, :, c, q]. Direct loops (no GEMM: K = fh * fw per output).
void depthwise_conv2d_forward(const Conv2dGeom& g, const float* x, const float* w, float* y);
void depthwise_conv2d_backprop_input(const Conv2dGeom& g, const float* dy, const float* w, float* dx);
void depthwise_conv2d_backprop_filter(const Conv2dGeom& g, const float* x, const float* dy, float* dw);

// NHWC pooling with a window of fh x fw (dilations as conv's); channels of x and y are in_c.
// avg divides by the number of in-bounds pixels (as tfjs's cpu backend does).
void pool2d(bool is_max, const Conv2dGeom& g, const float* x, float* y);
// dx of max pooling: dy routed to the first maximum of each window of x.
void max_pool2d_backprop(const Conv2dGeom& g, const float* x, const float* dy, float* dx);
// dx of average pooling: dy / (fh * fw) spread over each window (tfjs's cpu backend's rule).
void avg_pool2d_backprop(const Conv2dGeom& g, const float* dy, float* dx);

}  // namespace tfjs
}  // namespace peftjs
