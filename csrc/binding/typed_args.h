// Argument readers beyond args.h's scalars and Float32Arrays: op names, dimension lists (shapes and
// strides) and Int32Arrays of token ids, targets and positions. Same rule: check before touching memory.
#pragma once

#include <napi.h>

#include <cmath>
#include <string>
#include <vector>

#include "../kernels/elementwise.h"
#include "args.h"

namespace peftjs {

inline UnaryOp unary_op(const Args& args, const std::string& name) {
  if (name == "exp") return UnaryOp::Exp;
  if (name == "log") return UnaryOp::Log;
  if (name == "tanh") return UnaryOp::Tanh;
  if (name == "gelu") return UnaryOp::Gelu;
  if (name == "gelu_tanh") return UnaryOp::GeluTanh;
  if (name == "silu") return UnaryOp::Silu;
  if (name == "relu") return UnaryOp::Relu;
  if (name == "neg") return UnaryOp::Neg;
  if (name == "sqrt") return UnaryOp::Sqrt;
  if (name == "sigmoid") return UnaryOp::Sigmoid;
  args.fail_range("unknown unary op '" + name + "'");
}

// An Array of at most 16 non-negative integers (a shape or strides).
inline std::vector<int64_t> dim_list(const Args& args, const Napi::Value& v, const char* name) {
  if (!v.IsArray()) args.fail_type(std::string("argument '") + name + "' must be an Array, got " + Args::type_of(v));
  Napi::Array arr = v.As<Napi::Array>();
  if (arr.Length() > 16) args.fail_range(std::string("'") + name + "' has more than 16 dimensions");
  std::vector<int64_t> out;
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    Napi::Value e = arr.Get(i);
    if (!e.IsNumber()) args.fail_type(std::string("'") + name + "' must hold numbers, got " + Args::type_of(e));
    const double d = e.As<Napi::Number>().DoubleValue();
    if (!(d >= 0) || d != std::floor(d) || d >= 281474976710656.0)
      args.fail_range(std::string("'") + name + "[" + std::to_string(i) + "]' must be a non-negative integer, got " +
                      Args::show(d));
    out.push_back(static_cast<int64_t>(d));
  }
  return out;
}

// An Int32Array holding at least `needed` elements.
inline const int32_t* int32s(const Args& args, size_t i, const char* name, int64_t needed) {
  const Napi::Value v = args.value(i);
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
    args.fail_type(std::string("argument '") + name + "' must be an Int32Array, got " + Args::type_of(v));
  Napi::Int32Array arr = v.As<Napi::Int32Array>();
  const int64_t length = static_cast<int64_t>(arr.ElementLength());
  if (length < needed)
    args.fail_range(std::string("argument '") + name + "' has " + std::to_string(length) + " elements, expected at least " +
                    std::to_string(needed));
  return arr.Data();
}

// An integer that fits int32 (may be negative: ignore indices are often -100).
inline int32_t int32_value(const Args& args, size_t i, const char* name) {
  const double d = args.number(i, name);
  if (d != std::floor(d) || d < -2147483648.0 || d > 2147483647.0)
    args.fail_range(std::string("argument '") + name + "' must be a 32-bit integer, got " + Args::show(d));
  return static_cast<int32_t>(d);
}

}  // namespace peftjs
