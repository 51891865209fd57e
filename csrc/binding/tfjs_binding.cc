// The TensorFlow.js backend's kernels (csrc/kernels/tfjs) as N-API functions, CPU only. Each takes one params
// object (lib/tfjs/native.ts spells them), buffers as Float32Arrays, and checks every size and buffer
// length before the kernel runs.
#include <string>
#include <utility>
#include <vector>

#include "../kernels/tfjs/tfjs_kernels.h"
#include "../runtime/populate_pages.h"
#include "args.h"
#include "bindings.h"
#include "typed_args.h"

namespace peftjs {
namespace {

constexpr std::pair<const char*, tfjs::BinaryOp> kBinary[] = {
    {"add", tfjs::BinaryOp::Add}, {"sub", tfjs::BinaryOp::Sub}, {"mul", tfjs::BinaryOp::Mul},
    {"div", tfjs::BinaryOp::Div}, {"max", tfjs::BinaryOp::Max}, {"min", tfjs::BinaryOp::Min},
    {"squaredDifference", tfjs::BinaryOp::SquaredDiff}, {"eluGrad", tfjs::BinaryOp::EluGrad}};
constexpr std::pair<const char*, tfjs::UnaryOp> kUnary[] = {
    {"relu", tfjs::UnaryOp::Relu}, {"relu6", tfjs::UnaryOp::Relu6}, {"sigmoid", tfjs::UnaryOp::Sigmoid},
    {"tanh", tfjs::UnaryOp::Tanh}, {"exp", tfjs::UnaryOp::Exp}, {"log", tfjs::UnaryOp::Log},
    {"sqrt", tfjs::UnaryOp::Sqrt}, {"rsqrt", tfjs::UnaryOp::Rsqrt}, {"square", tfjs::UnaryOp::Square},
    {"abs", tfjs::UnaryOp::Abs}, {"neg", tfjs::UnaryOp::Neg}, {"step", tfjs::UnaryOp::Step},
    {"elu", tfjs::UnaryOp::Elu}, {"leakyRelu", tfjs::UnaryOp::LeakyRelu}, {"reciprocal", tfjs::UnaryOp::Reciprocal}};
constexpr std::pair<const char*, tfjs::ReduceOp> kReduce[] = {
    {"sum", tfjs::ReduceOp::Sum}, {"mean", tfjs::ReduceOp::Mean}, {"max", tfjs::ReduceOp::Max},
    {"min", tfjs::ReduceOp::Min}, {"prod", tfjs::ReduceOp::Prod}};
constexpr std::pair<const char*, Activation> kActivations[] = {
    {"none", Activation::None}, {"relu", Activation::Relu}};

// The elements a view (shape, strides) spans: the last index + 1 (0 when empty).
int64_t span_of(const Params& p, const std::vector<int64_t>& shape, const std::vector<int64_t>& strides) {
  int64_t last = 0;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 0) return 0;
    last = p.checked_add(last, p.checked_mul(shape[d] - 1, strides[d]));
  }
  return last + 1;
}

int64_t total_of(const Params& p, const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t s : shape) n = p.checked_mul(n, s);
  return n;
}

Activation activation_of(const Params& p) {
  const std::string name = p.string("act");
  for (const auto& [n, a] : kActivations)
    if (name == n) return a;
  p.fail_range("unknown activation '" + name + "' (expected none or relu)");
}

// tfjsBinary({op, a, b, out, shape, aStrides, bStrides})
Napi::Value Binary(const Napi::CallbackInfo& info) {
  const Params p(info, "tfjsBinary");
  const tfjs::BinaryOp op = op_named(p, kBinary, "binary op", "");
  const std::vector<int64_t> shape = dim_list(p, "shape"), as = dim_list(p, "aStrides"), bs = dim_list(p, "bStrides");
  if (as.size() != shape.size() || bs.size() != shape.size())
    p.fail_range("shape, aStrides and bStrides must have the same length, got " + std::to_string(shape.size()) + ", " +
                 std::to_string(as.size()) + " and " + std::to_string(bs.size()));
  const int64_t n = total_of(p, shape);
  const float* a = p.floats("a", span_of(p, shape, as));
  const float* b = p.floats("b", span_of(p, shape, bs));
  float* out = p.floats("out", n);
  if (n > 0) tfjs::broadcast_binary(op, a, as.data(), b, bs.data(), out, shape.data(), static_cast<int>(shape.size()));
  return info.Env().Undefined();
}

// tfjsUnary({op, a, out, n, alpha})
Napi::Value Unary(const Napi::CallbackInfo& info) {
  const Params p(info, "tfjsUnary");
  const tfjs::UnaryOp op = op_named(p, kUnary, "unary op", "");
  const int64_t n = p.dim("n");
  const float alpha = p.f32_value("alpha");
  const float* a = p.floats("a", n);
  float* out = p.floats("out", n);
  tfjs::unary(op, a, out, n, alpha);
  return info.Env().Undefined();
}

// tfjsReduce({op, a, out, outer, red, inner})
Napi::Value Reduce(const Napi::CallbackInfo& info) {
  const Params p(info, "tfjsReduce");
  const tfjs::ReduceOp op = op_named(p, kReduce, "reduction", "");
  const int64_t outer = p.dim("outer"), red = p.dim("red"), inner = p.dim("inner");
  const float* a = p.floats("a", p.checked_mul(p.checked_mul(outer, red), inner));
  float* out = p.floats("out", p.checked_mul(outer, inner));
  tfjs::reduce(op, a, out, outer, red, inner);
  return info.Env().Undefined();
}

// tfjsMatMul({a, b, out, batch, m, n, k, transA, transB, aStride, bStride, bias, act})
Napi::Value MatMul(const Napi::CallbackInfo& info) {
  const Params p(info, "tfjsMatMul");
  const int64_t batch = p.dim("batch"), m = p.dim("m"), n = p.dim("n"), k = p.dim("k");
  const bool ta = p.boolean("transA"), tb = p.boolean("transB");
  const int64_t as = p.dim("aStride"), bs = p.dim("bStride");
  const Activation act = activation_of(p);
  const int64_t mk = p.checked_mul(m, k), kn = p.checked_mul(k, n), mn = p.checked_mul(m, n);
  if (as != 0 && as < mk) p.fail_range("aStride " + std::to_string(as) + " is below m * k = " + std::to_string(mk));
  if (bs != 0 && bs < kn) p.fail_range("bStride " + std::to_string(bs) + " is below k * n = " + std::to_string(kn));
  const int64_t last = batch == 0 ? 0 : batch - 1;
  const float* a = p.floats("a", batch == 0 ? 0 : p.checked_add(p.checked_mul(last, as), mk));
  const float* b = p.floats("b", batch == 0 ? 0 : p.checked_add(p.checked_mul(last, bs), kn));
  float* out = p.floats("out", p.checked_mul(batch, mn));
  const float* bias = p.opt_floats("bias", n);
  if (batch > 0 && mn > 0) tfjs::batch_matmul(a, b, out, batch, m, n, k, ta, tb, as, bs, bias, act);
  return info.Env().Undefined();
}

// tfjsGather({x, indices, out, batch, outer, dim, nIdx, slice}): every index in [0, dim), checked.
Napi::Value Gather(const Napi::CallbackInfo& info) {
  const Params p(info, "tfjsGather");
  const int64_t batch = p.dim("batch"), outer = p.dim("outer"), dim = p.dim("dim"), n_idx = p.dim("nIdx"), slice = p.dim("slice");
  const int64_t bo = p.checked_mul(batch, outer);
  const float* x = p.floats("x", p.checked_mul(p.checked_mul(bo, dim), slice));
  const int32_t* idx = p.int32s("indices", p.checked_mul(batch, n_idx));
  float* out = p.floats("out", p.checked_mul(p.checked_mul(bo, n_idx), slice));
  for (int64_t i = 0; i < batch * n_idx; ++i)
    if (idx[i] < 0 || idx[i] >= dim)
      p.fail_range("index " + std::to_string(idx[i]) + " at " + std::to_string(i) + " is not in [0, " + std::to_string(dim) + ")");
  if (bo * n_idx * slice > 0) tfjs::gather(x, idx, out, batch, outer, dim, n_idx, slice);
  return info.Env().Undefined();
}

// tfjsBatchNorm({x, out, n, mean, mLen, variance, vLen, offset, oLen, scale, sLen, eps}): offset/scale may be null.
Napi::Value BatchNorm(const Napi::CallbackInfo& info) {
  const Params p(info, "tfjsBatchNorm");
  const int64_t n = p.dim("n"), m_len = p.dim("mLen"), v_len = p.dim("vLen"), o_len = p.dim("oLen"), s_len = p.dim("sLen");
  if (m_len < 1 || v_len < 1 || o_len < 1 || s_len < 1) p.fail_range("mLen, vLen, oLen and sLen must be at least 1");
  const float* x = p.floats("x", n);
  float* out = p.floats("out", n);
  const float* mean = p.floats("mean", m_len);
  const float* var = p.floats("variance", v_len);
  const float* offset = p.opt_floats("offset", o_len);
  const float* scale = p.opt_floats("scale", s_len);
  const double eps = p.number("eps");
  if (n > 0) tfjs::batch_norm(x, out, n, mean, m_len, var, v_len, offset, o_len, scale, s_len, eps);
  return info.Env().Undefined();
}

tfjs::Conv2dGeom geom_of(const Params& p) {
  tfjs::Conv2dGeom g{p.dim("batch"), p.dim("inH"), p.dim("inW"), p.dim("inC"), p.dim("outH"), p.dim("outW"),
                     p.dim("outC"), p.dim("fh"), p.dim("fw"), p.dim("strideH"), p.dim("strideW"), p.dim("dilH"),
                     p.dim("dilW"), p.int32("padTop"), p.int32("padLeft")};
  if (g.stride_h < 1 || g.stride_w < 1 || g.dil_h < 1 || g.dil_w < 1)
    p.fail_range("strides and dilations must be at least 1");
  p.checked_mul(p.checked_mul(p.checked_mul(g.batch, g.out_h), g.out_w), p.checked_mul(p.checked_mul(g.fh, g.fw), g.in_c));
  return g;
}

int64_t input_size(const Params& p, const tfjs::Conv2dGeom& g) {
  return p.checked_mul(p.checked_mul(p.checked_mul(g.batch, g.in_h), g.in_w), g.in_c);
}
int64_t output_size(const Params& p, const tfjs::Conv2dGeom& g, int64_t channels) {
  return p.checked_mul(p.checked_mul(p.checked_mul(g.batch, g.out_h), g.out_w), channels);
}
int64_t filter_size(const Params& p, const tfjs::Conv2dGeom& g) {
  return p.checked_mul(p.checked_mul(p.checked_mul(g.fh, g.fw), g.in_c), g.out_c);
}

// tfjsConv2d({x, filter, out, bias, act, batch, inH, inW, inC, outH, outW, outC, fh, fw, strideH, strideW, dilH, dilW, padTop, padLeft})
Napi::Value Conv2d(const Napi::CallbackInfo& info) {
  const Params p(info, "tfjsConv2d");
  const tfjs::Conv2dGeom g = geom_of(p);
  const Activation act = activation_of(p);
  const float* x = p.floats("x", input_size(p, g));
  const float* w = p.floats("filter", filter_size(p, g));
  float* y = p.floats("out", output_size(p, g, g.out_c));
  const float* bias = p.opt_floats("bias", g.out_c);
  tfjs::conv2d_forward(g, x, w, y, bias, act);
  return info.Env().Undefined();
}

// tfjsConv2dBackpropInput({dy, filter, dx, ...geometry})
Napi::Value Conv2dBackpropInput(const Napi::CallbackInfo& info) {
  const Params p(info, "tfjsConv2dBackpropInput");
  const tfjs::Conv2dGeom g = geom_of(p);
  const float* dy = p.floats("dy", output_size(p, g, g.out_c));
  const float* w = p.floats("filter", filter_size(p, g));
  float* dx = p.floats("dx", input_size(p, g));
  tfjs::conv2d_backprop_input(g, dy, w, dx);
  return info.Env().Undefined();
}

// tfjsConv2dBackpropFilter({x, dy, dw, ...geometry})
Napi::Value Conv2dBackpropFilter(const Napi::CallbackInfo& info) {
  const Params p(info, "tfjsConv2dBackpropFilter");
  const tfjs::Conv2dGeom g = geom_of(p);
  const float* x = p.floats("x", input_size(p, g));
  const float* dy = p.floats("dy", output_size(p, g, g.out_c));
  float* dw = p.floats("dw", filter_size(p, g));
  tfjs::conv2d_backprop_filter(g, x, dy, dw);
  return info.Env().Undefined();
}

tfjs::Conv2dGeom depthwise_geom_of(const Params& p) {
  const tfjs::Conv2dGeom g = geom_of(p);
  if (g.in_c < 1 || g.out_c % g.in_c != 0)
    p.fail_range("outC (" + std::to_string(g.out_c) + ") must be a multiple of inC (" + std::to_string(g.in_c) + ")");
  return g;
}

// tfjsDepthwiseConv2d({x, filter, out, ...geometry}): filter [fh, fw, inC, outC / inC].
Napi::Value DepthwiseConv2d(const Napi::CallbackInfo& info) {
  const Params p(info, "tfjsDepthwiseConv2d");
  const tfjs::Conv2dGeom g = depthwise_geom_of(p);
  const float* x = p.floats("x", input_size(p, g));
  const float* w = p.floats("filter", p.checked_mul(p.checked_mul(g.fh, g.fw), g.out_c));
  float* y = p.floats("out", output_size(p, g, g.out_c));
  tfjs::depthwise_conv2d_forward(g, x, w, y);
  return info.Env().Undefined();
}

// tfjsDepthwiseConv2dBackpropInput({dy, filter, dx, ...geometry})
Napi::Value DepthwiseConv2dBackpropInput(const Napi::CallbackInfo& info) {
  const Params p(info, "tfjsDepthwiseConv2dBackpropInput");
  const tfjs::Conv2dGeom g = depthwise_geom_of(p);
  const float* dy = p.floats("dy", output_size(p, g, g.out_c));
  const float* w = p.floats("filter", p.checked_mul(p.checked_mul(g.fh, g.fw), g.out_c));
  float* dx = p.floats("dx", input_size(p, g));
  tfjs::depthwise_conv2d_backprop_input(g, dy, w, dx);
  return info.Env().Undefined();
}

// tfjsDepthwiseConv2dBackpropFilter({x, dy, dw, ...geometry})
Napi::Value DepthwiseConv2dBackpropFilter(const Napi::CallbackInfo& info) {
  const Params p(info, "tfjsDepthwiseConv2dBackpropFilter");
  const tfjs::Conv2dGeom g = depthwise_geom_of(p);
  const float* x = p.floats("x", input_size(p, g));
  const float* dy = p.floats("dy", output_size(p, g, g.out_c));
  float* dw = p.floats("dw", p.checked_mul(p.checked_mul(g.fh, g.fw), g.out_c));
  tfjs::depthwise_conv2d_backprop_filter(g, x, dy, dw);
  return info.Env().Undefined();
}

// tfjsPool({op: 'max'|'avg', x, out, ...geometry}); channels are inC.
Napi::Value Pool(const Napi::CallbackInfo& info) {
  const Params p(info, "tfjsPool");
  const std::string op = p.string("op");
  if (op != "max" && op != "avg") p.fail_range("unknown pooling '" + op + "' (expected max or avg)");
  const tfjs::Conv2dGeom g = geom_of(p);
  const float* x = p.floats("x", input_size(p, g));
  float* y = p.floats("out", output_size(p, g, g.in_c));
  tfjs::pool2d(op == "max", g, x, y);
  return info.Env().Undefined();
}

// tfjsMaxPoolBackprop({x, dy, dx, ...geometry})
Napi::Value MaxPoolBackprop(const Napi::CallbackInfo& info) {
  const Params p(info, "tfjsMaxPoolBackprop");
  const tfjs::Conv2dGeom g = geom_of(p);
  const float* x = p.floats("x", input_size(p, g));
  const float* dy = p.floats("dy", output_size(p, g, g.in_c));
  float* dx = p.floats("dx", input_size(p, g));
  tfjs::max_pool2d_backprop(g, x, dy, dx);
  return info.Env().Undefined();
}

// tfjsAvgPoolBackprop({dy, dx, ...geometry})
Napi::Value AvgPoolBackprop(const Napi::CallbackInfo& info) {
  const Params p(info, "tfjsAvgPoolBackprop");
  const tfjs::Conv2dGeom g = geom_of(p);
  const float* dy = p.floats("dy", output_size(p, g, g.in_c));
  float* dx = p.floats("dx", input_size(p, g));
  tfjs::avg_pool2d_backprop(g, dy, dx);
  return info.Env().Undefined();
}

// tfjsPopulatePages({out}) -> whether the pages of a fresh output array are now resident (see populate_pages.h)
Napi::Value PopulatePages(const Napi::CallbackInfo& info) {
  const Params p(info, "tfjsPopulatePages");
  const Napi::Value out = p.value("out");
  if (!out.IsTypedArray()) p.fail_type("argument 'out' must be a typed array, got " + Params::type_of(out));
  const Napi::TypedArray array = out.As<Napi::TypedArray>();
  auto* data = static_cast<uint8_t*>(array.ArrayBuffer().Data()) + array.ByteOffset();
  return Napi::Boolean::New(info.Env(), populate_pages(data, array.ByteLength()));
}

}  // namespace

void register_tfjs(Napi::Env env, Napi::Object exports) {
  set_functions(env, exports,
                {{"tfjsBinary", Binary},
                 {"tfjsUnary", Unary},
                 {"tfjsReduce", Reduce},
                 {"tfjsMatMul", MatMul},
                 {"tfjsConv2d", Conv2d},
                 {"tfjsConv2dBackpropInput", Conv2dBackpropInput},
                 {"tfjsConv2dBackpropFilter", Conv2dBackpropFilter},
                 {"tfjsPool", Pool},
                 {"tfjsMaxPoolBackprop", MaxPoolBackprop},
                 {"tfjsAvgPoolBackprop", AvgPoolBackprop},
                 {"tfjsDepthwiseConv2d", DepthwiseConv2d},
                 {"tfjsDepthwiseConv2dBackpropInput", DepthwiseConv2dBackpropInput},
                 {"tfjsDepthwiseConv2dBackpropFilter", DepthwiseConv2dBackpropFilter},
                 {"tfjsGather", Gather},
                 {"tfjsBatchNorm", BatchNorm},
                 {"tfjsPopulatePages", PopulatePages}});
}

}  // namespace peftjs
