// The bfloat16 GEMM (csrc/kernels/gemm/gemm_bf16.h, cuda/gemm_bf16.cu) as N-API functions, for the CPU and,
// prefixed cuda, for CUDA, taking the TypeScript kernel's params object (lib/ops/gemm_bf16/kernel.ts): B as
// bf16 bits in a Uint8Array (from value bOffset), as a float32 buffer, or as a packed low-precision weight
// (bQuant); every span is checked before the kernel reads.
// On CUDA, a, b, c and bias are [handle, offset] device views; bBits and bQuant's arrays are host typed arrays
// (as the TypeScript side keeps frozen weights), uploaded to stream-ordered scratch for the call (the span
// of B the product reads), or already device memory: bBits a [handle, byteOffset] byte view, bQuant's arrays
// views as quantized_weight_args.h reads them. Nothing is uploaded when the product reads no B (m, n or
// k zero, or alpha zero: C = beta C + bias).
#include <optional>

#include "../../cuda/device_api.h"
#include "../kernels/gemm/gemm_bf16.h"
#include "args.h"
#include "bindings.h"
#include "buffers.h"
#include "quantized_weight_args.h"

namespace peftjs {
namespace {

// Whether the product reads B at all (gemm_bf16 then only scales C and adds the bias).
bool reads_b(const GemmBf16Args& g) { return g.m > 0 && g.n > 0 && g.k > 0 && g.alpha != 0.0f; }

struct CpuGemmBf16 : HostBuffers {
  // What B's bits or packed weight need kept until the kernel has run: the weight's fields.
  struct BSource {
    explicit BSource(const Params&) {}
    QuantizedWeight w{};
  };
  static const uint16_t* bits(const Params& p, BSource&, int64_t offset, int64_t b_need) {
    return reinterpret_cast<const uint16_t*>(p.opt_bytes("bBits", p.checked_mul(2, p.checked_add(offset, b_need))) + 2 * offset);
  }
  static int64_t read_quant(const Params& p, BSource& s) {
    s.w = read_quantized_weight(p);
    return s.w.n;
  }
  static void finish_b(BSource& s, GemmBf16Args& g, bool quant, int64_t) {
    if (quant) g.b_quant = &s.w;
  }
  static void run(const Params&, const GemmBf16Args& g) { gemm_bf16(g); }
};

struct CudaGemmBf16 : DeviceBuffers {
  struct BSource {
    explicit BSource(const Params& p) : uploads(p) {}
    DeviceUploads uploads;               // host arrays copied for this call
    bool bits_on_host = false;
    std::optional<DevicePackedWeight> weight;
    QuantizedWeight staged{};
  };
  // bBits: a host Uint8Array or a device byte view [handle, byteOffset], from value `offset` on.
  static const uint16_t* bits(const Params& p, BSource& s, int64_t offset, int64_t b_need) {
    const int64_t bytes = p.checked_mul(2, p.checked_add(offset, b_need));
    const Napi::Value v = p.value("bBits");
    if (!v.IsArray()) {
      s.bits_on_host = true;
      return reinterpret_cast<const uint16_t*>(p.opt_bytes("bBits", bytes) + 2 * offset);
    }
    const uint8_t* dev = device_bytes_of(p, v, "bBits", bytes) + 2 * offset;
    if (reinterpret_cast<uintptr_t>(dev) % 2 != 0)
      p.fail_range("argument 'bBits' must start at an even byte address on the device (bf16 values are 2 bytes)");
    return reinterpret_cast<const uint16_t*>(dev);
  }
  static int64_t read_quant(const Params& p, BSource& s) {
    s.weight.emplace(p);
    return s.weight->fields().n;
  }
  // After every check: B's span [0, b_need) in device memory. When the product reads no B, the pointers
  // stay as read (gemm_bf16 only needs to know which form B has) and nothing is uploaded.
  static void finish_b(BSource& s, GemmBf16Args& g, bool quant, int64_t b_need) {
    if (quant) g.b_quant = &s.weight->fields();
    if (!reads_b(g)) return;
    if (g.b_bits != nullptr && s.bits_on_host) g.b_bits = s.uploads.upload(g.b_bits, b_need);
    if (quant) {
      s.staged = s.weight->stage(0, b_need).w;  // from value 0: value i stays value i
      g.b_quant = &s.staged;
    }
  }
  static void run(const Params& p, const GemmBf16Args& g) { DeviceBuffers::run(p, cuda::gemm_bf16, g); }
};

// gemmBf16({transB, m, n, k, alpha, a, lda, bBits|null, bOffset, b|null, bQuant?|null, ldb, beta, c, ldc, bias|null})
template <class D>
Napi::Value GemmBf16(const Napi::CallbackInfo& info) {
  const Params p(info, "gemmBf16");
  GemmBf16Args g;
  g.trans_b = p.boolean("transB");
  g.m = p.dim("m");
  g.n = p.dim("n");
  g.k = p.dim("k");
  g.alpha = p.f32_value("alpha");
  g.beta = p.f32_value("beta");
  g.lda = p.dim("lda");
  g.ldb = p.dim("ldb");
  g.ldc = p.dim("ldc");
  g.a = D::view(p, "a", p.matrix_span("a", g.m, g.k, g.lda));
  const int64_t b_need = g.trans_b ? p.matrix_span("b", g.n, g.k, g.ldb) : p.matrix_span("b", g.k, g.n, g.ldb);
  const int64_t offset = p.dim("bOffset");
  const bool bits = !p.is_null("bBits"), floats = !p.is_null("b"), quant = !p.is_null("bQuant");
  const int given = int(bits) + int(floats) + int(quant);
  if (given != 1) p.fail_range("exactly one of 'bBits', 'b' and 'bQuant' must be given, got " + std::to_string(given));
  typename D::BSource source(p);
  if (bits) {
    g.b_bits = D::bits(p, source, offset, b_need);
  } else if (floats) {
    g.b = D::view(p, "b", b_need);
  } else {
    if (!g.trans_b || g.ldb != g.k) p.fail_range("argument 'bQuant' needs transB and ldb = k (the row-major weight [n, k])");
    const int64_t values = D::read_quant(Params(info.Env(), p.object("bQuant"), "gemmBf16"), source);
    if (values < b_need)
      p.fail_range("argument 'bQuant' holds " + std::to_string(values) + " values, expected at least " + std::to_string(b_need));
  }
  g.c = D::view(p, "c", p.matrix_span("c", g.m, g.n, g.ldc));
  g.bias = D::opt_view(p, "bias", g.n);
  D::finish_b(source, g, quant, b_need);
  D::run(p, g);
  return info.Env().Undefined();
}

}  // namespace

void register_gemm_bf16(Napi::Env env, Napi::Object exports) {
  set_functions(env, exports, {
      {"gemmBf16", GemmBf16<CpuGemmBf16>},
      {"cudaGemmBf16", GemmBf16<CudaGemmBf16>},
  });
}

}  // namespace peftjs
