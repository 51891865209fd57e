// The bfloat16 GEMM (csrc/kernels/gemm/gemm_bf16.h) as an N-API function taking the TypeScript kernel's
// params object (lib/ops/gemm_bf16/kernel.ts): B as bf16 bits in a Uint8Array (from value bOffset), as a
// float32 view, or as a packed low-precision weight (bQuant); every span is checked before the kernel reads.
#include "../kernels/gemm/gemm_bf16.h"
#include "args.h"
#include "bindings.h"
#include "quantized_weight_args.h"

namespace peftjs {
namespace {

// gemmBf16({transB, m, n, k, alpha, a, lda, bBits|null, bOffset, b|null, bQuant?|null, ldb, beta, c, ldc, bias|null})
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
  g.a = p.floats("a", p.matrix_span("a", g.m, g.k, g.lda));
  const int64_t b_need = g.trans_b ? p.matrix_span("b", g.n, g.k, g.ldb) : p.matrix_span("b", g.k, g.n, g.ldb);
  const int64_t offset = p.dim("bOffset");
  const bool bits = !p.is_null("bBits"), floats = !p.is_null("b"), quant = !p.is_null("bQuant");
  const int given = int(bits) + int(floats) + int(quant);
  if (given != 1) p.fail_range("exactly one of 'bBits', 'b' and 'bQuant' must be given, got " + std::to_string(given));
  QuantizedWeight w{};
  if (bits) {
    g.b_bits = reinterpret_cast<const uint16_t*>(p.opt_bytes("bBits", p.checked_mul(2, p.checked_add(offset, b_need))) + 2 * offset);
  } else if (floats) {
    g.b = p.floats("b", b_need);
  } else {
    if (!g.trans_b || g.ldb != g.k) p.fail_range("argument 'bQuant' needs transB and ldb = k (the row-major weight [n, k])");
    w = read_quantized_weight(Params(info.Env(), p.object("bQuant"), "gemmBf16"));
    if (w.n < b_need)
      p.fail_range("argument 'bQuant' holds " + std::to_string(w.n) + " values, expected at least " + std::to_string(b_need));
    g.b_quant = &w;
  }
  g.c = p.floats("c", p.matrix_span("c", g.m, g.n, g.ldc));
  g.bias = p.opt_floats("bias", g.n);
  gemm_bf16(g);
  return info.Env().Undefined();
}

}  // namespace

void register_gemm_bf16(Napi::Env env, Napi::Object exports) {
  set_functions(env, exports, {{"gemmBf16", GemmBf16}});
}

}  // namespace peftjs
