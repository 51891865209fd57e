// cuBLASLt for the CUDA GEMMs, found at run time: nothing here needs cuBLAS to build. The build machine and
// CI have nvcc but neither cuBLAS headers nor libcublasLt, and the addon must load where cuBLAS is absent,
// so cuda/cublaslt.cu dlopen()s libcublasLt on first use and calls it through the few declarations below
// (the project's own, with the numeric values of NVIDIA's public cublasLt.h / cublas_api.h /
// library_types.h). When no library is found, or a GEMM has fields cuBLASLt does not cover, the callers run
// their own kernels instead.
//
// Plain C++ without CUDA headers: cuda_binding.cc includes it in every build (cuda_stub.cc provides the API
// when the addon is built without CUDA).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "../csrc/kernels/gemm/gemm.h"
#include "../csrc/kernels/gemm/gemm_bf16.h"

struct CUstream_st;  // cudaStream_t is `struct CUstream_st*` (driver_types.h); declared here without CUDA headers

namespace peftjs {
namespace cuda {

// --- API -------------------------------------------------------------------------------------------------

// Whether cuBLASLt is loaded and usable (library found, handle created). The first call loads it (thread-
// safe, once per process); afterwards this is a flag read. When false, *why_not (if given) says why: the
// library was not found (each place tried), PEFTJS_CUBLASLT disabled it, or initialising it failed.
bool cublaslt_available(std::string* why_not);
// The file the library was loaded from ("" when none), and its version ("13.0.2"; "" when none).
std::string cublaslt_path();
std::string cublaslt_version();

// TF32 tensor cores for float32 GEMMs (CUBLAS_COMPUTE_32F_FAST_TF32: inputs rounded to 10 mantissa bits).
// Off by default, as PyTorch's torch.backends.cuda.matmul.allow_tf32: the float32 results then match the
// CPU's to float32 rounding. Affects only GEMMs that run on cuBLASLt.
void set_allow_tf32(bool allow);
bool allow_tf32();

// The contract of both GEMMs: the return value says whether an error happened (false: *error says which,
// and the GEMM may have been launched: do not fall back). *handled says whether cuBLASLt took the GEMM:
// false (with true returned) means nothing was launched and the caller must run its own kernel: cuBLASLt
// is unavailable, or the arguments set something this path does not implement (listed below), or cuBLASLt
// found no algorithm for them.

// C = alpha op(A) op(B) + beta C + bias, then act, on row-major float32 matrices (GemmArgs, gemm.h).
// Handled: act None or GeluTanh (cuBLASLt's GELU epilogue is the tanh approximation; erf Gelu, Relu (NaN
// -> 0 in cuBLASLt's epilogue, NaN on the CPU) and Silu are not), bias or not, any transposes, beta == 0
// leaving C unread. Not handled: the second K segment (k2/a2/b2), col_scale, pre_out, k == 0 or alpha == 0
// (C = beta C + bias, no product: the callers' scale kernel does it exactly as the CPU), sizes beyond
// int32, leading dimensions smaller than a row, a bias that is not 16-byte aligned (the BIAS epilogue's loads).
bool cublaslt_gemm_f32(const GemmArgs& g, bool* handled, std::string* error);

// The bf16 GEMM of gemm_bf16.h with B given as bf16 bits (g.b_bits, the frozen weight; must be 2-byte
// aligned) and A float32 (g.a): cuBLASLt multiplies bf16 by bf16 only (no float32 x bf16 mix), so A is
// rounded to bf16 (nearest even, as f32_to_bf16_bits) into a stream-ordered scratch first, unless the
// caller already has it: a_bf16 (device, [m, k] with leading dimension lda_bf16 >= k) is then used and
// g.a ignored. Products are summed in float32 into float32 C. Not handled: g.b or g.b_quant instead of
// b_bits, an odd b_bits / a_bf16 address, k == 0 or alpha == 0, sizes beyond int32, a bias not 16-byte aligned.
bool cublaslt_gemm_bf16(const GemmBf16Args& g, const uint16_t* a_bf16, int64_t lda_bf16, bool* handled,
                        std::string* error);

// --- The cuBLASLt ABI used -------------------------------------------------------------------------------
// Values from NVIDIA's public headers (cublasLt.h, cublas_api.h and library_types.h of CUDA 12.x; the same
// in 13.x, as nvmath-python's generated cublasLt bindings list them). They are ABI: a program compiled
// against an older header keeps working with a newer libcublasLt of the same major version, so NVIDIA does
// not renumber them. cublaslt.cu checks the cudaDataType ones against the CUDA runtime's library_types.h.
namespace lt {

using Status = int32_t;  // cublasStatus_t
constexpr Status CUBLAS_STATUS_SUCCESS = 0;
constexpr Status CUBLAS_STATUS_NOT_INITIALIZED = 1;
constexpr Status CUBLAS_STATUS_ALLOC_FAILED = 3;
constexpr Status CUBLAS_STATUS_INVALID_VALUE = 7;
constexpr Status CUBLAS_STATUS_ARCH_MISMATCH = 8;
constexpr Status CUBLAS_STATUS_MAPPING_ERROR = 11;
constexpr Status CUBLAS_STATUS_EXECUTION_FAILED = 13;
constexpr Status CUBLAS_STATUS_INTERNAL_ERROR = 14;
constexpr Status CUBLAS_STATUS_NOT_SUPPORTED = 15;
constexpr Status CUBLAS_STATUS_LICENSE_ERROR = 16;

// cublasOperation_t (attribute type int32_t)
constexpr int32_t CUBLAS_OP_N = 0;
constexpr int32_t CUBLAS_OP_T = 1;

// cublasComputeType_t
constexpr int32_t CUBLAS_COMPUTE_32F = 68;
constexpr int32_t CUBLAS_COMPUTE_32F_FAST_TF32 = 77;

// cudaDataType (library_types.h)
constexpr int32_t CUDA_R_32F = 0;
constexpr int32_t CUDA_R_16BF = 14;

// cublasLtMatmulDescAttributes_t
constexpr int32_t CUBLASLT_MATMUL_DESC_COMPUTE_TYPE = 0;  // int32_t
constexpr int32_t CUBLASLT_MATMUL_DESC_SCALE_TYPE = 1;    // int32_t
constexpr int32_t CUBLASLT_MATMUL_DESC_TRANSA = 3;        // int32_t (cublasOperation_t)
constexpr int32_t CUBLASLT_MATMUL_DESC_TRANSB = 4;        // int32_t (cublasOperation_t)
constexpr int32_t CUBLASLT_MATMUL_DESC_EPILOGUE = 7;      // uint32_t (cublasLtEpilogue_t)
constexpr int32_t CUBLASLT_MATMUL_DESC_BIAS_POINTER = 8;  // const void*

// cublasLtEpilogue_t (attribute type uint32_t). The bias vector has one value per row of D (column-major).
constexpr uint32_t CUBLASLT_EPILOGUE_DEFAULT = 1;
constexpr uint32_t CUBLASLT_EPILOGUE_BIAS = 4;
constexpr uint32_t CUBLASLT_EPILOGUE_GELU = 32;
constexpr uint32_t CUBLASLT_EPILOGUE_GELU_BIAS = 36;  // GELU | BIAS: bias first, then GELU

// cublasLtOrder_t; layouts default to CUBLASLT_ORDER_COL, which is what is used (not set explicitly).
constexpr int32_t CUBLASLT_ORDER_COL = 0;
constexpr int32_t CUBLASLT_ORDER_ROW = 1;

// cublasLtMatmulPreferenceAttributes_t
constexpr int32_t CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES = 1;    // uint64_t
constexpr int32_t CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES = 5;  // uint32_t, default 256
constexpr int32_t CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES = 6;
constexpr int32_t CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES = 7;
constexpr int32_t CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES = 8;

// Opaque handles and the semi-opaque structs passed by value or in arrays (sizes as in cublasLt.h).
struct Context;
using Handle = Context*;  // cublasLtHandle_t
struct MatrixLayoutOpaque {
  uint64_t data[8];
};
using MatrixLayout = MatrixLayoutOpaque*;  // cublasLtMatrixLayout_t
struct MatmulDescOpaque {
  uint64_t data[32];
};
using MatmulDesc = MatmulDescOpaque*;  // cublasLtMatmulDesc_t
struct MatmulPreferenceOpaque {
  uint64_t data[8];
};
using MatmulPreference = MatmulPreferenceOpaque*;  // cublasLtMatmulPreference_t
struct MatmulAlgo {  // cublasLtMatmulAlgo_t
  uint64_t data[8];
};
struct MatmulHeuristicResult {  // cublasLtMatmulHeuristicResult_t
  MatmulAlgo algo;
  size_t workspaceSize;
  Status state;
  float wavesCount;
  int reserved[4];
};
static_assert(sizeof(MatmulHeuristicResult) == 96, "cublasLtMatmulHeuristicResult_t is 96 bytes");

// The entry points (C linkage in the library; enums are passed as int32_t, as C passes them).
using CreateFn = Status (*)(Handle*);
using GetVersionFn = size_t (*)();
using MatmulDescCreateFn = Status (*)(MatmulDesc*, int32_t compute_type, int32_t scale_type);
using MatmulDescSetAttributeFn = Status (*)(MatmulDesc, int32_t attr, const void* buf, size_t bytes);
using MatmulDescDestroyFn = Status (*)(MatmulDesc);
using MatrixLayoutCreateFn = Status (*)(MatrixLayout*, int32_t type, uint64_t rows, uint64_t cols, int64_t ld);
using MatrixLayoutDestroyFn = Status (*)(MatrixLayout);
using MatmulPreferenceCreateFn = Status (*)(MatmulPreference*);
using MatmulPreferenceSetAttributeFn = Status (*)(MatmulPreference, int32_t attr, const void* buf, size_t bytes);
using MatmulPreferenceDestroyFn = Status (*)(MatmulPreference);
using MatmulAlgoGetHeuristicFn = Status (*)(Handle, MatmulDesc, MatrixLayout a, MatrixLayout b, MatrixLayout c,
                                            MatrixLayout d, MatmulPreference, int requested,
                                            MatmulHeuristicResult* results, int* returned);
using MatmulFn = Status (*)(Handle, MatmulDesc, const void* alpha, const void* a, MatrixLayout a_desc, const void* b,
                            MatrixLayout b_desc, const void* beta, const void* c, MatrixLayout c_desc, void* d,
                            MatrixLayout d_desc, const MatmulAlgo* algo, void* workspace, size_t workspace_bytes,
                            CUstream_st* stream);

}  // namespace lt

}  // namespace cuda
}  // namespace peftjs
