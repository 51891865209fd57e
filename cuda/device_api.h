// The CUDA side of the addon, seen from C++ without CUDA headers. Every function reports failure by
// returning false (or 0 / nullptr) with the reason in *error; none throws or aborts. Pointers named
// `dev` are device memory from alloc(). Kernel semantics are exactly those of csrc/kernels (same enums,
// same argument meanings), so one spec checks both against the js reference.
// When the addon is built without CUDA (no nvcc), cuda_stub.cc provides these with compiled() == false.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "../csrc/kernels/attention/attention.h"
#include "../csrc/kernels/diff_prune/diff_prune.h"
#include "../csrc/kernels/elementwise/elementwise.h"
#include "../csrc/kernels/gemm/gemm.h"
#include "../csrc/kernels/gemm/gemm_bf16.h"
#include "../csrc/kernels/ia3/ia3.h"
#include "../csrc/kernels/lora/lora.h"
#include "../csrc/kernels/norm/norm.h"
#include "../csrc/kernels/optim/optim.h"
#include "../csrc/kernels/quant/dequantize.h"
#include "../csrc/kernels/reduce/reduce.h"
#include "../csrc/kernels/rope/rope.h"

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
// How many times the host has waited for the device so far (copy_to_host, read_double, synchronize): a
// training step's count shows whether anything inside it reads a value back.
uint64_t host_waits();

// Stream-ordered scratch (cudaMallocAsync / cudaFreeAsync on the stream every kernel runs on): a buffer
// freed right after the launch that reads it is released only once that kernel is done, with no host wait.
// upload_async copies host memory in (the host buffer may be reused as soon as it returns).
void* alloc_async(size_t bytes, std::string* error);
bool free_async(void* dev, std::string* error);
bool upload_async(void* dev, const void* host, size_t bytes, std::string* error);

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
// The sum of squares in double, written to *out_dev (device memory) with no host wait; sum_squares_to_host
// reads it back (the caller's one synchronisation).
bool sum_squares(const float* x, int64_t n, double* out_dev, std::string* error);

// Integer inputs (ids, positions, targets, key masks) are device pointers here; the bindings check their
// values on the host before uploading them.
bool embedding_forward(const int32_t* ids, int64_t n, int64_t dim, const float* table, float* out, std::string* error);
bool embedding_backward(const int32_t* ids, int64_t n, int64_t dim, const float* dy, float* dtable, std::string* error);
bool rope(const RopeArgs& a, std::string* error);
bool cross_entropy_forward(const float* logits, const int32_t* targets, int64_t rows, int64_t vocab, int32_t ignore_index,
                           float* losses, float* lse, std::string* error);
bool cross_entropy_backward(const float* logits, const int32_t* targets, const float* lse, int64_t rows, int64_t vocab,
                            int32_t ignore_index, float grad_scale, float* dlogits, std::string* error);
bool attention_forward(const AttentionArgs& a, float* out, float* lse, std::string* error);
bool attention_backward(const AttentionArgs& a, const float* out, const float* lse, const float* dout, float* dq,
                        int64_t dq_stride, float* dk, int64_t dk_stride, float* dv, int64_t dv_stride, std::string* error);

// The PEFT kernels.
bool lora_forward(const LoraForwardArgs& a, std::string* error);
bool lora_backward(const LoraBackwardArgs& a, std::string* error);
bool ia3_forward(const Ia3Args& a, float* y, float* y_pre, std::string* error);
bool ia3_backward(const Ia3Args& a, const float* dy, const float* y_pre, float* dx, float* dl, std::string* error);
// The penalty (a sum over gates in double) goes to *penalty_dev, device memory, as sum_squares.
bool diff_prune_forward(const DiffPruneArgs& a, const float* w, float* w_out, float* z_out, double* penalty_dev,
                        std::string* error);
bool diff_prune_backward(const DiffPruneArgs& a, const float* dw, float lambda, const float* gates, float* d_delta,
                         float* d_log_alpha, std::string* error);
// Keeps the keep largest |v| (ties by index) and zeroes the rest, in place; *threshold gets the kept magnitude
// (a host value: this one synchronises).
bool project_top_k(float* v, int64_t n, int64_t keep, float* threshold, std::string* error);

// Low-precision weights: every pointer of w (data, absmax, nested_*) is device memory.
bool dequantize(const QuantizedWeight& w, int64_t start, int64_t end, float* out, std::string* error);
// bf16 tensor-core GEMM (mma.sync, float32 accumulation); b_quant's pointers are device memory.
bool gemm_bf16(const GemmBf16Args& a, std::string* error);

// Reads a double written by sum_squares / diff_prune_forward (synchronises the stream).
bool read_double(const double* dev, double* host, std::string* error);

}  // namespace cuda
}  // namespace peftjs
