// Reading a packed low-precision weight (lib/ops/dequantize/kernel.ts, PackedWeight: format, n, group,
// data, absmax, nestedCodes, nestedAbsmax, offset) from a params object, every length checked against the
// format before a kernel reads a byte. dequantize takes these fields at its top level, gemmBf16 as bQuant.
#pragma once

#include <string>
#include <utility>

#include "../kernels/quant/dequantize.h"
#include "args.h"

namespace peftjs {

inline QuantizedWeight read_quantized_weight(const Params& p) {
  constexpr std::pair<const char*, WeightFormat> kFormats[] = {
      {"bfloat16", WeightFormat::Bf16}, {"float16", WeightFormat::F16}, {"int8", WeightFormat::Int8}, {"nf4", WeightFormat::Nf4}};
  QuantizedWeight w{};
  const std::string format = p.string("format");
  bool known = false;
  for (const auto& [name, f] : kFormats)
    if (format == name) w.format = f, known = true;
  if (!known) p.fail_range("unknown format '" + format + "' (expected bfloat16, float16, int8 or nf4)");
  w.n = p.dim("n");
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
  return w;
}

}  // namespace peftjs
