// The CUDA side of the addon, seen from C++ without CUDA headers. Every function reports failure by
// returning false (or 0 / nullptr) with the reason in *error; none throws or aborts. Pointers named
// `dev` are device memory from alloc(). Kernel semantics are exactly those of csrc/kernels (same enums,
// same argument meanings), so one spec checks both against the js reference.
// When the addon is built without CUDA (no nvcc), cuda_stub.cc provides these with compiled() == false.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "../csrc/kernels/elementwise/elementwise.h"
#include "../csrc/kernels/gemm/gemm.h"
#include "../csrc/kernels/norm/norm.h"
#include "../csrc/kernels/optim/optim.h"
#include "../csrc/kernels/reduce/reduce.h"

namespace peftjs {
namespace cuda {

bool compiled();
// Number of usable devices; 0 with the reason (no driver, no device, built without CUDA) in *why.
int device_count(std::string* why);

void* alloc(size_t bytes, std::string* error);
bool free(void* dev, std::string* error);
bool copy_to_device(void* dev, const void* host, size_t bytes, std::string* error);
bool copy_to_host(void* host, const void* dev, size_t bytes, std::string* error);
bool copy_on_device(void* dev_dst, const void* dev_src, size_t bytes, std::string* error);
bool synchronize(std::string* error);

// Kernels on device pointers (asynchronous on the default stream; errors of the launch are reported).
// gemm implements C = alpha op(A) op(B) + beta C + bias; arguments that set the second K segment,
// col_scale, act or pre_out are refused with an error naming each field (gemm_support.h).
bool gemm(const GemmArgs& args, std::string* error);
bool binary(BinaryOp op, const float* a, const float* b, float* out, int64_t n, int64_t b_len, std::string* error);
bool scale(const float* a, float* out, int64_t n, float alpha, float beta, std::string* error);
bool unary(UnaryOp op, const float* a, float* out, int64_t n, std::string* error);
bool fill(float* out, int64_t n, float value, std::string* error);
bool row_reduce(ReduceOp op, const float* a, float* out, int64_t rows, int64_t cols, std::string* error);
bool softmax_rows(const float* a, float* out, int64_t rows, int64_t cols, std::string* error);
bool strided_copy(const float* src, float* dst, const int64_t* shape, const int64_t* strides, int ndim,
                  std::string* error);
bool random_uniform(float* out, int64_t n, uint64_t seed, uint64_t offset, float low, float high,
                    std::string* error);
bool random_normal(float* out, int64_t n, uint64_t seed, uint64_t offset, float mean, float std,
                   std::string* error);

// The op kernels, each with its csrc/kernels twin's semantics (names and arguments as there, plus *error).
bool rms_norm_forward(const NormArgs& a, float* y, float* rstd, std::string* error);
bool rms_norm_backward(const NormArgs& a, const float* rstd, const float* dy, float* dx, float* dweight, std::string* error);
bool layer_norm_forward(const NormArgs& a, const float* bias, float* y, float* mean, float* rstd, std::string* error);
bool layer_norm_backward(const NormArgs& a, const float* mean, const float* rstd, const float* dy, float* dx, float* dweight,
                         float* dbias, std::string* error);
bool adamw_step(const AdamwArgs& a, std::string* error);
bool unary_backward(UnaryOp op, const float* x, const float* dy, float* dx, int64_t n, std::string* error);
bool softmax_backward(const float* y, const float* dy, float* dx, int64_t rows, int64_t cols, std::string* error);
bool column_sum(const float* a, float* out, int64_t rows, int64_t cols, float beta, std::string* error);
bool strided_scatter(const float* src, float* dst, const int64_t* shape, const int64_t* strides, int ndim, std::string* error);
bool bitfit_backward(const float* dy, const float* w, int64_t t, int64_t k, int64_t n, float* dx, float* dbias,
                     std::string* error);
bool sgd_step(const SgdArgs& a, std::string* error);

}  // namespace cuda
}  // namespace peftjs
