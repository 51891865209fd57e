// Dequantizing a range of a frozen low-precision weight (csrc/kernels/quant) as an N-API function. It takes
// one params object, the TypeScript kernel's own (lib/ops/dequantize/kernel.ts): the packed bytes as a
// Uint8Array, the absmax values as Float32Arrays, the output as a Float32Array view; every length is
// checked against the format before the kernel reads a byte.
#include "../kernels/quant/dequantize.h"
#include "args.h"
#include "bindings.h"
#include "quantized_weight_args.h"

namespace peftjs {
namespace {

// dequantize({format, n, group, start, end, data, absmax|null, nestedCodes|null, nestedAbsmax|null, offset, out})
Napi::Value Dequantize(const Napi::CallbackInfo& info) {
  const Params p(info, "dequantize");
  const QuantizedWeight w = read_quantized_weight(p);
  const int64_t start = p.dim("start"), end = p.dim("end");
  if (start > end || end > w.n)
    p.fail_range("the range [" + std::to_string(start) + ", " + std::to_string(end) + ") is not inside [0, n = " +
                 std::to_string(w.n) + ")");
  float* out = p.floats("out", end - start);
  dequantize(w, start, end, out);
  return info.Env().Undefined();
}

}  // namespace

void register_dequantize(Napi::Env env, Napi::Object exports) {
  set_functions(env, exports, {{"dequantize", Dequantize}});
}

}  // namespace peftjs
