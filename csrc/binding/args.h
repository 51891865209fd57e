// Argument checks for every N-API entry point: each reader validates one argument before any memory is
// touched, and throws a JS error naming the operation, the argument, what was expected and what came.
#pragma once

#include <napi.h>

#include <cmath>
#include <cstdint>
#include <string>

namespace peftjs {

struct FloatView {
  float* data;
  int64_t length;
};

class Args {
 public:
  Args(const Napi::CallbackInfo& info, const char* op, size_t expected_count) : info_(info), op_(op) {
    if (info.Length() != expected_count)
      fail_type("expected " + std::to_string(expected_count) + " arguments, got " + std::to_string(info.Length()));
  }

  Napi::Env env() const { return info_.Env(); }
  Napi::Value value(size_t i) const { return info_[i]; }
  const char* op() const { return op_; }

  [[noreturn]] void fail_type(const std::string& what) const {
    throw Napi::TypeError::New(info_.Env(), std::string(op_) + ": " + what);
  }
  [[noreturn]] void fail_range(const std::string& what) const {
    throw Napi::RangeError::New(info_.Env(), std::string(op_) + ": " + what);
  }

  // A size or index: a finite, non-negative integer below 2^48.
  int64_t dim(size_t i, const char* name) const {
    const double v = number(i, name);
    if (v < 0 || v != std::floor(v) || v >= 281474976710656.0)
      fail_range(std::string("argument '") + name + "' must be a non-negative integer, got " + show(v));
    return static_cast<int64_t>(v);
  }

  double number(size_t i, const char* name) const {
    const Napi::Value v = info_[i];
    if (!v.IsNumber()) fail_type(std::string("argument '") + name + "' must be a number, got " + type_of(v));
    const double d = v.As<Napi::Number>().DoubleValue();
    if (std::isnan(d)) fail_range(std::string("argument '") + name + "' must not be NaN");
    return d;
  }

  // A float32 setting (eps, a rate, a scale factor of a method); infinities are allowed (fill with -inf is a
  // real use), NaN is not.
  float f32(size_t i, const char* name) const { return static_cast<float>(number(i, name)); }

  // A float32 data value (what fill writes, a factor computed from data such as a gradient norm): NaN and
  // infinities pass through to the result, as they do in PyTorch.
  float f32_value(size_t i, const char* name) const {
    const Napi::Value v = info_[i];
    if (!v.IsNumber()) fail_type(std::string("argument '") + name + "' must be a number, got " + type_of(v));
    return static_cast<float>(v.As<Napi::Number>().DoubleValue());
  }

  bool boolean(size_t i, const char* name) const {
    const Napi::Value v = info_[i];
    if (!v.IsBoolean()) fail_type(std::string("argument '") + name + "' must be a boolean, got " + type_of(v));
    return v.As<Napi::Boolean>().Value();
  }

  std::string string(size_t i, const char* name) const {
    const Napi::Value v = info_[i];
    if (!v.IsString()) fail_type(std::string("argument '") + name + "' must be a string, got " + type_of(v));
    return v.As<Napi::String>().Utf8Value();
  }

  bool is_null(size_t i) const { return info_[i].IsNull() || info_[i].IsUndefined(); }

  // A Float32Array holding at least `needed` elements. A disposed tensor's array is detached (length 0).
  FloatView floats(size_t i, const char* name, int64_t needed) const {
    const Napi::Value v = info_[i];
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
      fail_type(std::string("argument '") + name + "' must be a Float32Array, got " + type_of(v));
    Napi::Float32Array arr = v.As<Napi::Float32Array>();
    const int64_t length = static_cast<int64_t>(arr.ElementLength());
    if (length < needed) {
      std::string msg = std::string("argument '") + name + "' has " + std::to_string(length) +
                        " elements, expected at least " + std::to_string(needed);
      if (length == 0) msg += " (a disposed tensor's storage is empty)";
      fail_range(msg);
    }
    return {arr.Data(), length};
  }

  // Elements a row-major [rows, cols] matrix with leading dimension ld spans; checks ld >= cols.
  int64_t matrix_span(const char* name, int64_t rows, int64_t cols, int64_t ld) const {
    if (ld < cols)
      fail_range(std::string("leading dimension of '") + name + "' is " + std::to_string(ld) +
                 ", expected at least " + std::to_string(cols) + " (its column count)");
    if (rows == 0 || cols == 0) return 0;
    return checked_add(checked_mul(rows - 1, ld), cols);
  }

  int64_t checked_mul(int64_t a, int64_t b) const {
    int64_t r;
    if (__builtin_mul_overflow(a, b, &r) || r >= (int64_t{1} << 48))
      fail_range("size " + std::to_string(a) + " x " + std::to_string(b) + " is too large");
    return r;
  }
  int64_t checked_add(int64_t a, int64_t b) const {
    int64_t r;
    if (__builtin_add_overflow(a, b, &r)) fail_range("size overflow");
    return r;
  }

  static std::string type_of(const Napi::Value& v) {
    if (v.IsNull()) return "null";
    if (v.IsUndefined()) return "undefined";
    if (v.IsTypedArray()) {
      switch (v.As<Napi::TypedArray>().TypedArrayType()) {
        case napi_float32_array: return "Float32Array";
        case napi_float64_array: return "Float64Array";
        case napi_int32_array: return "Int32Array";
        case napi_uint8_array: return "Uint8Array";
        default: return "a typed array of another type";
      }
    }
    if (v.IsArrayBuffer()) return "ArrayBuffer";
    if (v.IsArray()) return "Array";
    if (v.IsNumber()) return "number " + show(v.As<Napi::Number>().DoubleValue());
    if (v.IsString()) return "string";
    if (v.IsBoolean()) return "boolean";
    if (v.IsFunction()) return "function";
    return "object";
  }

  static std::string show(double v) {
    if (std::isnan(v)) return "NaN";
    if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
    if (v == std::floor(v) && std::fabs(v) < 1e15) return std::to_string(static_cast<long long>(v));
    return std::to_string(v);
  }

 private:
  const Napi::CallbackInfo& info_;
  const char* op_;
};

}  // namespace peftjs
