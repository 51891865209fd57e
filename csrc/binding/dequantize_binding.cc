// Dequantizing a range of a frozen low-precision weight (csrc/kernels/quant, cuda/dequantize.cu) as N-API
// functions, for the CPU and, prefixed cuda, for CUDA. Each takes one params object, the TypeScript kernel's own
// (lib/ops/dequantize/kernel.ts): the packed bytes as a Uint8Array, the absmax values as Float32Arrays, the
// output as a Float32Array (CPU) or a [handle, offset] device view (CUDA); every length is checked against
// the format before the kernel reads a byte. On CUDA the packed arrays may also be device views already
// (quantized_weight_args.h); host arrays are uploaded, only the part the range reads, for the call.
#include "../../cuda/device_api.h"
#include "../kernels/quant/dequantize.h"
#include "args.h"
#include "bindings.h"
#include "buffers.h"
#include "quantized_weight_args.h"

namespace peftjs {
namespace {

struct CpuDequantize : HostBuffers {
  using Weight = QuantizedWeight;
  static Weight read(const Params& p) { return read_quantized_weight(p); }
  static const QuantizedWeight& fields(const Weight& w) { return w; }
  static void run(const Params&, Weight& w, int64_t start, int64_t end, float* out) { dequantize(w, start, end, out); }
};

struct CudaDequantize : DeviceBuffers {
  using Weight = DevicePackedWeight;
  static Weight read(const Params& p) { return Weight(p); }
  static const QuantizedWeight& fields(const Weight& w) { return w.fields(); }
  static void run(const Params& p, Weight& w, int64_t start, int64_t end, float* out) {
    if (end <= start) return;
    const DevicePackedWeight::Staged s = w.stage(start, end);
    DeviceBuffers::run(p, cuda::dequantize, s.w, start - s.base, end - s.base, out);
  }
};

// dequantize({format, n, group, start, end, data, absmax|null, nestedCodes|null, nestedAbsmax|null, offset, out})
template <class D>
Napi::Value Dequantize(const Napi::CallbackInfo& info) {
  const Params p(info, "dequantize");
  typename D::Weight w = D::read(p);
  const int64_t n = D::fields(w).n;
  const int64_t start = p.dim("start"), end = p.dim("end");
  if (start > end || end > n)
    p.fail_range("the range [" + std::to_string(start) + ", " + std::to_string(end) + ") is not inside [0, n = " +
                 std::to_string(n) + ")");
  float* out = D::view(p, "out", end - start);
  D::run(p, w, start, end, out);
  return info.Env().Undefined();
}

}  // namespace

void register_dequantize(Napi::Env env, Napi::Object exports) {
  set_functions(env, exports, {
      {"dequantize", Dequantize<CpuDequantize>},
      {"cudaDequantize", Dequantize<CudaDequantize>},
  });
}

}  // namespace peftjs
