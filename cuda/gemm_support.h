// Which GemmArgs fields the CUDA gemm (cuda/gemm.cu) implements. The CPU gemm (csrc/kernels/gemm/gemm.h) also
// takes a second K segment (k2, a2, b2, lda2, ldb2, a2_scale) and an epilogue after the bias (col_scale,
// act, pre_out, ld_pre); the CUDA kernel computes only C = alpha op(A) op(B) + beta C + bias, so it
// refuses arguments that set any of the others instead of silently returning a different result.
// Plain host C++ without CUDA headers: nvcc compiles it into gemm.cu, and cuda_binding.cc exposes it in
// every build (cudaGemmUnsupported) so that the check is tested where there is no GPU.
#pragma once

#include <string>

#include "../csrc/kernels/gemm/gemm.h"

namespace peftjs {
namespace cuda {

inline const char* activation_name(Activation act) {
  switch (act) {
    case Activation::None: return "none";
    case Activation::Relu: return "relu";
    case Activation::Gelu: return "gelu";
    case Activation::GeluTanh: return "gelu_tanh";
    case Activation::Silu: return "silu";
  }
  return "unknown";
}

// The fields of g that cuda::gemm does not implement, as "GemmArgs.<field> (...)" joined by "; ", or ""
// when it implements every one that g sets. lda2, ldb2, a2_scale and ld_pre only matter with the
// segment or pre_out and are not reported on their own.
inline std::string unsupported_gemm_fields(const GemmArgs& g) {
  std::string out;
  auto add = [&out](const std::string& what) {
    if (!out.empty()) out += "; ";
    out += what;
  };
  if (g.k2 != 0 || g.a2 != nullptr || g.b2 != nullptr)
    add("GemmArgs.k2/a2/b2 (the second K segment: k2 = " + std::to_string(g.k2) + ", a2 " +
        (g.a2 != nullptr ? "set" : "null") + ", b2 " + (g.b2 != nullptr ? "set" : "null") + ")");
  if (g.col_scale != nullptr) add("GemmArgs.col_scale (a per-column scale after the bias)");
  if (g.act != Activation::None) add(std::string("GemmArgs.act = ") + activation_name(g.act) + " (an activation after the bias)");
  if (g.pre_out != nullptr) add("GemmArgs.pre_out (a copy of the output before col_scale and act)");
  return out;
}

// True when cuda::gemm implements every field g sets; otherwise false with *error naming the kernel and
// each field it does not implement.
inline bool gemm_args_supported(const GemmArgs& g, std::string* error) {
  const std::string fields = unsupported_gemm_fields(g);
  if (fields.empty()) return true;
  if (error)
    *error = "the CUDA kernel cuda::gemm does not implement " + fields +
             ". It computes only C = alpha op(A) op(B) + beta C + bias: run this gemm on the CPU, or implement "
             "the field in cuda/gemm.cu";
  return false;
}

}  // namespace cuda
}  // namespace peftjs
