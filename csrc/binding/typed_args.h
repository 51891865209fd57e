// Readers beyond args.h's scalars and arrays, shared by the bindings: op names and dimension lists (shapes
// and strides). Same rule: check before touching memory.
#pragma once

#include <napi.h>

#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "../kernels/elementwise/elementwise.h"
#include "args.h"

namespace peftjs {

// An op named by the string field "op" of a params object, from a table of (name, op); a non-string is
// refused by Params::string, an unknown name by "unknown <what> '<name>'<expected>".
template <class Op, size_t N>
Op op_named(const Params& p, const std::pair<const char*, Op> (&ops)[N], const char* what, const char* expected) {
  const std::string name = p.string("op");
  for (const auto& [n, op] : ops)
    if (name == n) return op;
  p.fail_range(std::string("unknown ") + what + " '" + name + "'" + expected);
}

// Every unary op's name, from the one table (csrc/kernels/elementwise/unary_ops.h).
constexpr std::pair<const char*, UnaryOp> kUnaryOps[] = {
#define PEFTJS_UNARY_NAME(e, name) {name, UnaryOp::e},
    PEFTJS_UNARY_OPS(PEFTJS_UNARY_NAME)
#undef PEFTJS_UNARY_NAME
};

// An Array of at most 16 non-negative integers (a shape or strides), read from the field `name`.
inline std::vector<int64_t> dim_list(const Params& p, const char* name) {
  const Napi::Value v = p.value(name);
  if (!v.IsArray()) p.fail_type(std::string("argument '") + name + "' must be an Array, got " + Params::type_of(v));
  Napi::Array arr = v.As<Napi::Array>();
  if (arr.Length() > 16) p.fail_range(std::string("'") + name + "' has more than 16 dimensions");
  std::vector<int64_t> out;
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    Napi::Value e = arr.Get(i);
    if (!e.IsNumber()) p.fail_type(std::string("'") + name + "' must hold numbers, got " + Params::type_of(e));
    const double d = e.As<Napi::Number>().DoubleValue();
    if (!(d >= 0) || d != std::floor(d) || d >= 281474976710656.0)
      p.fail_range(std::string("'") + name + "[" + std::to_string(i) + "]' must be a non-negative integer, got " +
                   Params::show(d));
    out.push_back(static_cast<int64_t>(d));
  }
  return out;
}

// A strided view's shape and strides (the same number of each), read from the fields "shape" and
// "strides": its element count and the elements it spans from its offset (the last index + 1; 0 if empty).
struct ViewSpan {
  std::vector<int64_t> shape, strides;
  int64_t total, span;
};

inline ViewSpan view_span(const Params& p) {
  ViewSpan v{dim_list(p, "shape"), dim_list(p, "strides"), 1, 0};
  if (v.shape.size() != v.strides.size())
    p.fail_range("shape has " + std::to_string(v.shape.size()) + " dimensions but strides has " + std::to_string(v.strides.size()));
  int64_t last = 0;
  for (size_t d = 0; d < v.shape.size(); ++d) {
    v.total = p.checked_mul(v.total, v.shape[d]);
    if (v.shape[d] > 0) last = p.checked_add(last, p.checked_mul(v.shape[d] - 1, v.strides[d]));
  }
  v.span = v.total == 0 ? 0 : last + 1;
  return v;
}

}  // namespace peftjs
