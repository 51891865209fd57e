// Argument checks for every N-API entry point: each reader validates one argument before any memory is
// touched, and throws a JS error naming the operation, the argument, what was expected and what came.
#pragma once

#include <napi.h>

#include <charconv>
#include <cmath>
#include <cstdint>
#include <string>

namespace peftjs {

struct FloatView {
  float* data;
  int64_t length;
};

// The checks every reader shares: each takes the value and its name, and throws a JS error naming the
// operation, the argument, what was expected and what came.
class ValueChecks {
 public:
  ValueChecks(Napi::Env env, const char* op) : env_(env), op_(op) {}

  Napi::Env env() const { return env_; }
  const char* op() const { return op_; }

  [[noreturn]] void fail_type(const std::string& what) const {
    throw Napi::TypeError::New(env_, std::string(op_) + ": " + what);
  }
  [[noreturn]] void fail_range(const std::string& what) const {
    throw Napi::RangeError::New(env_, std::string(op_) + ": " + what);
  }

  // A size or index: a finite, non-negative integer below 2^48.
  int64_t dim_of(const Napi::Value& v, const char* name) const {
    const double d = number_of(v, name);
    if (d < 0 || d != std::floor(d) || d >= 281474976710656.0)
      fail_range(std::string("argument '") + name + "' must be a non-negative integer, got " + show(d));
    return static_cast<int64_t>(d);
  }

  double number_of(const Napi::Value& v, const char* name) const {
    if (!v.IsNumber()) fail_type(std::string("argument '") + name + "' must be a number, got " + type_of(v));
    const double d = v.As<Napi::Number>().DoubleValue();
    if (std::isnan(d)) fail_range(std::string("argument '") + name + "' must not be NaN");
    return d;
  }

  // A float32 data value (what fill writes, a factor computed from data such as a gradient norm): NaN and
  // infinities pass through to the result, as they do in PyTorch.
  float f32_value_of(const Napi::Value& v, const char* name) const {
    if (!v.IsNumber()) fail_type(std::string("argument '") + name + "' must be a number, got " + type_of(v));
    return static_cast<float>(v.As<Napi::Number>().DoubleValue());
  }

  bool boolean_of(const Napi::Value& v, const char* name) const {
    if (!v.IsBoolean()) fail_type(std::string("argument '") + name + "' must be a boolean, got " + type_of(v));
    return v.As<Napi::Boolean>().Value();
  }

  std::string string_of(const Napi::Value& v, const char* name) const {
    if (!v.IsString()) fail_type(std::string("argument '") + name + "' must be a string, got " + type_of(v));
    return v.As<Napi::String>().Utf8Value();
  }

  // A Float32Array holding at least `needed` elements. A disposed tensor's array is detached (length 0).
  FloatView floats_of(const Napi::Value& v, const char* name, int64_t needed) const {
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

  // A number as JavaScript prints it (the shortest form that reads back), so messages match the
  // TypeScript checks' (lib/backend/checks.ts) word for word.
  static std::string show(double v) {
    if (std::isnan(v)) return "NaN";
    if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
    if (v == std::floor(v) && std::fabs(v) < 1e15) return std::to_string(static_cast<long long>(v));
    char buf[32];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    return std::string(buf, r.ptr);
  }

 private:
  Napi::Env env_;
  const char* op_;
};

// Positional arguments: the reader of the entry points that take a list.
class Args : public ValueChecks {
 public:
  Args(const Napi::CallbackInfo& info, const char* op, size_t expected_count) : ValueChecks(info.Env(), op), info_(info) {
    if (info.Length() != expected_count)
      fail_type("expected " + std::to_string(expected_count) + " arguments, got " + std::to_string(info.Length()));
  }

  Napi::Value value(size_t i) const { return info_[i]; }
  bool is_null(size_t i) const { return info_[i].IsNull() || info_[i].IsUndefined(); }

  int64_t dim(size_t i, const char* name) const { return dim_of(info_[i], name); }
  double number(size_t i, const char* name) const { return number_of(info_[i], name); }
  // A float32 setting (eps, a rate, a scale factor of a method); infinities are allowed (fill with -inf is a
  // real use), NaN is not.
  float f32(size_t i, const char* name) const { return static_cast<float>(number_of(info_[i], name)); }
  float f32_value(size_t i, const char* name) const { return f32_value_of(info_[i], name); }
  bool boolean(size_t i, const char* name) const { return boolean_of(info_[i], name); }
  std::string string(size_t i, const char* name) const { return string_of(info_[i], name); }
  FloatView floats(size_t i, const char* name, int64_t needed) const { return floats_of(info_[i], name, needed); }

 private:
  const Napi::CallbackInfo& info_;
};

// One params object: the reader of the entry points that take their arguments by name, as the TypeScript
// kernels' params objects hold them (lib/backend/types.ts), with buffers as Float32Arrays.
class Params : public ValueChecks {
 public:
  // A nested params object (a field that is itself a group of fields, such as gemmBf16's bQuant).
  Params(Napi::Env env, Napi::Object obj, const char* op) : ValueChecks(env, op), obj_(obj) {}

  Params(const Napi::CallbackInfo& info, const char* op) : ValueChecks(info.Env(), op) {
    if (info.Length() != 1 || !info[0].IsObject() || info[0].IsArray() || info[0].IsTypedArray())
      fail_type("expected one params object, got " +
                (info.Length() == 1 ? type_of(info[0]) : std::to_string(info.Length()) + " arguments"));
    obj_ = info[0].As<Napi::Object>();
  }

  Napi::Value value(const char* name) const { return obj_.Get(name); }
  bool is_null(const char* name) const {
    const Napi::Value v = obj_.Get(name);
    return v.IsNull() || v.IsUndefined();
  }

  int64_t dim(const char* name) const { return dim_of(value(name), name); }
  double number(const char* name) const { return number_of(value(name), name); }
  float f32(const char* name) const { return static_cast<float>(number_of(value(name), name)); }
  float f32_value(const char* name) const { return f32_value_of(value(name), name); }
  bool boolean(const char* name) const { return boolean_of(value(name), name); }
  std::string string(const char* name) const { return string_of(value(name), name); }
  float* floats(const char* name, int64_t needed) const { return floats_of(value(name), name, needed).data; }
  // null when the field is null or absent.
  float* opt_floats(const char* name, int64_t needed) const {
    const Napi::Value v = value(name);  // one lookup: each read by name costs a key string
    return v.IsNull() || v.IsUndefined() ? nullptr : floats_of(v, name, needed).data;
  }
  // A field holding an object (a nested group of fields, such as a view's buffer and stride).
  Napi::Object object(const char* name) const {
    const Napi::Value v = value(name);
    if (!v.IsObject() || v.IsArray() || v.IsTypedArray())
      fail_type(std::string("argument '") + name + "' must be an object, got " + type_of(v));
    return v.As<Napi::Object>();
  }
  // An Int32Array field holding at least `needed` elements (token ids, targets, positions).
  const int32_t* int32s(const char* name, int64_t needed) const {
    const Napi::Value v = value(name);
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
      fail_type(std::string("argument '") + name + "' must be an Int32Array, got " + type_of(v));
    Napi::Int32Array arr = v.As<Napi::Int32Array>();
    const int64_t length = static_cast<int64_t>(arr.ElementLength());
    if (length < needed)
      fail_range(std::string("argument '") + name + "' has " + std::to_string(length) + " elements, expected at least " +
                 std::to_string(needed));
    return arr.Data();
  }
  // A Uint8Array field holding at least `needed` bytes (packed low-precision weights); null when null or absent.
  const uint8_t* opt_bytes(const char* name, int64_t needed) const {
    const Napi::Value v = value(name);
    if (v.IsNull() || v.IsUndefined()) return nullptr;
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
      fail_type(std::string("argument '") + name + "' must be a Uint8Array, got " + type_of(v));
    Napi::Uint8Array arr = v.As<Napi::Uint8Array>();
    const int64_t length = static_cast<int64_t>(arr.ElementLength());
    if (length < needed)
      fail_range(std::string("argument '") + name + "' has " + std::to_string(length) + " bytes, expected at least " +
                 std::to_string(needed));
    return arr.Data();
  }
  // An integer field that fits int32 (may be negative: ignore indices are often -100).
  int32_t int32(const char* name) const {
    const double d = number(name);
    if (d != std::floor(d) || d < -2147483648.0 || d > 2147483647.0)
      fail_range(std::string("argument '") + name + "' must be a 32-bit integer, got " + show(d));
    return static_cast<int32_t>(d);
  }

 private:
  Napi::Object obj_;
};

}  // namespace peftjs
