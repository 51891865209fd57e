// Dequantizing a range of a frozen low-precision weight (csrc/kernels/quant) as an N-API function. It takes
// one params object, the TypeScript kernel's own (lib/ops/dequantize/kernel.ts): the packed bytes as a
// Uint8Array, the absmax values as Float32Arrays, the output as a Float32Array view; every length is
// checked against the format before the kernel reads a byte.
#include "../kernels/quant/dequantize.h"
#include "args.h"
#include "bindings.h"

namespace peftjs {
namespace {

constexpr std::pair<const char*, WeightFormat> kFormats[] = {
    {"bfloat16", WeightFormat::Bf16}, {"float16", WeightFormat::F16}, {"int8", WeightFormat::Int8}, {"nf4", WeightFormat::Nf4}};

// dequantize({format, n, group, start, end, data, absmax|null, nestedCodes|null, nestedAbsmax|null, offset, out})
Napi::Value Dequantize(const Napi::CallbackInfo& info) {
  const Params p(info, "dequantize");
  QuantizedWeight w{};
  const std::string format = p.string("format");
  bool known = false;
  for (const auto& [name, f] : kFormats)
    if (format == name) w.format = f, known = true;
  if (!known) p.fail_range("unknown format '" + format + "' (expected bfloat16, float16, int8 or nf4)");
  w.n = p.dim("n");
  const int64_t start = p.dim("start"), end = p.dim("end");
  if (start > end || end > w.n)
    p.fail_range("the range [" + std::to_string(start) + ", " + std::to_string(end) + ") is not inside [0, n = " +
                 std::to_string(w.n) + ")");
  const bool grouped = w.format == WeightFormat::Int8 || w.format == WeightFormat::Nf4;
  w.group = grouped ? p.dim("group") : 1;
  if (grouped && w.group == 0) p.fail_range("group must be at least 1");
  const int64_t groups = grouped ? (w.n + w.group - 1) / w.group : 0;
  const int64_t bytes =
      w.format == WeightFormat::Nf4 ? (w.n + 1) / 2 : w.format == WeightFormat::Int8 ? w.n : p.checked_mul(w.n, 2);
  w.data = p.opt_bytes("data", bytes);
  if (w.data == nullptr) p.fail_type("argument 'data' must be a Uint8Array, got null");
  w.absmax = p.opt_floats("absmax", groups);
  w.nested_codes = p.opt_bytes("nestedCodes", groups);
  w.nested_absmax = p.opt_floats("nestedAbsmax", (groups + 255) / 256);
  const bool nested = w.nested_codes != nullptr && w.nested_absmax != nullptr;
  if (grouped && w.absmax == nullptr && (w.format == WeightFormat::Int8 || !nested))
    p.fail_range(format + " needs absmax (or, for nf4, nestedCodes and nestedAbsmax)");
  w.offset = p.f32("offset");
  float* out = p.floats("out", end - start);
  dequantize(w, start, end, out);
  return info.Env().Undefined();
}

}  // namespace

void register_dequantize(Napi::Env env, Napi::Object exports) {
  set_functions(env, exports, {{"dequantize", Dequantize}});
}

}  // namespace peftjs
