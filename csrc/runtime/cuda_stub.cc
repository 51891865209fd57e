// The CUDA entry points for a build without nvcc: every call reports that CUDA was not compiled in.
#ifndef PEFTJS_WITH_CUDA

#include "../../cuda/device_api.h"

namespace peftjs {
namespace cuda {
namespace {
const char* kNoCuda = "peftjs was built without CUDA (build with `npm run build:native` where nvcc is installed)";
bool no_cuda(std::string* error) {
  if (error) *error = kNoCuda;
  return false;
}
}  // namespace

bool compiled() { return false; }
int device_count(std::string* why) {
  no_cuda(why);
  return 0;
}
void* alloc(size_t, std::string* error) {
  no_cuda(error);
  return nullptr;
}
bool free(void*, std::string* error) { return no_cuda(error); }
bool copy_to_device(void*, const void*, size_t, std::string* error) { return no_cuda(error); }
bool copy_to_host(void*, const void*, size_t, std::string* error) { return no_cuda(error); }
bool copy_on_device(void*, const void*, size_t, std::string* error) { return no_cuda(error); }
bool synchronize(std::string* error) { return no_cuda(error); }
uint64_t host_waits() { return 0; }
void* alloc_async(size_t, std::string* error) {
  no_cuda(error);
  return nullptr;
}
bool free_async(void*, std::string* error) { return no_cuda(error); }
bool upload_async(void*, const void*, size_t, std::string* error) { return no_cuda(error); }
bool read_double(const double*, double*, std::string* error) { return no_cuda(error); }
bool gemm(const GemmArgs&, std::string* error) { return no_cuda(error); }
bool rms_norm_forward(const NormArgs&, float*, float*, std::string* error) { return no_cuda(error); }
bool rms_norm_backward(const NormArgs&, const float*, const float*, float*, float*, std::string* error) { return no_cuda(error); }
bool layer_norm_forward(const NormArgs&, const float*, float*, float*, float*, std::string* error) { return no_cuda(error); }
bool layer_norm_backward(const NormArgs&, const float*, const float*, const float*, float*, float*, float*, std::string* error) {
  return no_cuda(error);
}
bool adamw_step(const AdamwArgs&, std::string* error) { return no_cuda(error); }
bool unary_backward(UnaryOp, const float*, const float*, float*, int64_t, std::string* error) { return no_cuda(error); }
bool softmax_backward(const float*, const float*, float*, int64_t, int64_t, std::string* error) { return no_cuda(error); }
bool column_sum(const float*, float*, int64_t, int64_t, float, std::string* error) { return no_cuda(error); }
bool strided_scatter(const float*, float*, const int64_t*, const int64_t*, int, std::string* error) { return no_cuda(error); }
bool bitfit_backward(const float*, const float*, int64_t, int64_t, int64_t, float*, float*, std::string* error) {
  return no_cuda(error);
}
bool sgd_step(const SgdArgs&, std::string* error) { return no_cuda(error); }
bool sum_squares(const float*, int64_t, double*, std::string* error) { return no_cuda(error); }
bool embedding_forward(const int32_t*, int64_t, int64_t, const float*, float*, std::string* error) { return no_cuda(error); }
bool embedding_backward(const int32_t*, int64_t, int64_t, const float*, float*, std::string* error) { return no_cuda(error); }
bool rope(const RopeArgs&, std::string* error) { return no_cuda(error); }
bool cross_entropy_forward(const float*, const int32_t*, int64_t, int64_t, int32_t, float*, float*, std::string* error) {
  return no_cuda(error);
}
bool cross_entropy_backward(const float*, const int32_t*, const float*, int64_t, int64_t, int32_t, float, float*,
                            std::string* error) {
  return no_cuda(error);
}
bool attention_forward(const AttentionArgs&, float*, float*, std::string* error) { return no_cuda(error); }
bool attention_backward(const AttentionArgs&, const float*, const float*, const float*, float*, int64_t, float*, int64_t,
                        float*, int64_t, std::string* error) {
  return no_cuda(error);
}
bool lora_forward(const LoraForwardArgs&, std::string* error) { return no_cuda(error); }
bool lora_backward(const LoraBackwardArgs&, std::string* error) { return no_cuda(error); }
bool ia3_forward(const Ia3Args&, float*, float*, std::string* error) { return no_cuda(error); }
bool ia3_backward(const Ia3Args&, const float*, const float*, float*, float*, std::string* error) { return no_cuda(error); }
bool diff_prune_forward(const DiffPruneArgs&, const float*, float*, float*, double*, std::string* error) { return no_cuda(error); }
bool diff_prune_backward(const DiffPruneArgs&, const float*, float, const float*, float*, float*, std::string* error) {
  return no_cuda(error);
}
bool project_top_k(float*, int64_t, int64_t, float*, std::string* error) { return no_cuda(error); }
bool dequantize(const QuantizedWeight&, int64_t, int64_t, float*, std::string* error) { return no_cuda(error); }
bool gemm_bf16(const GemmBf16Args&, std::string* error) { return no_cuda(error); }
bool binary(BinaryOp, const float*, const float*, float*, int64_t, int64_t, std::string* error) { return no_cuda(error); }
bool scale(const float*, float*, int64_t, float, float, std::string* error) { return no_cuda(error); }
bool unary(UnaryOp, const float*, float*, int64_t, std::string* error) { return no_cuda(error); }
bool fill(float*, int64_t, float, std::string* error) { return no_cuda(error); }
bool row_reduce(ReduceOp, const float*, float*, int64_t, int64_t, std::string* error) { return no_cuda(error); }
bool softmax_rows(const float*, float*, int64_t, int64_t, std::string* error) { return no_cuda(error); }
bool strided_copy(const float*, float*, const int64_t*, const int64_t*, int, std::string* error) { return no_cuda(error); }
bool random_uniform(float*, int64_t, uint64_t, uint64_t, float, float, std::string* error) { return no_cuda(error); }
bool random_normal(float*, int64_t, uint64_t, uint64_t, float, float, std::string* error) { return no_cuda(error); }

}  // namespace cuda
}  // namespace peftjs

// cuBLASLt (cuda/cublaslt.h): never available without CUDA. The TF32 setting is kept, so that code may set
// it whatever the build.
#include <atomic>

#include "../../cuda/cublaslt.h"

namespace peftjs {
namespace cuda {
namespace {
std::atomic<bool> g_stub_allow_tf32{false};
}  // namespace
bool cublaslt_available(std::string* why_not) { return no_cuda(why_not); }
std::string cublaslt_path() { return std::string(); }
std::string cublaslt_version() { return std::string(); }
void set_allow_tf32(bool allow) { g_stub_allow_tf32.store(allow); }
bool allow_tf32() { return g_stub_allow_tf32.load(); }
bool cublaslt_gemm_f32(const GemmArgs&, bool* handled, std::string* error) {
  *handled = true;
  return no_cuda(error);
}
bool cublaslt_gemm_bf16(const GemmBf16Args&, const uint16_t*, int64_t, bool* handled, std::string* error) {
  *handled = true;
  return no_cuda(error);
}
}  // namespace cuda
}  // namespace peftjs

// NCCL (cuda/nccl.h): never available without CUDA; there is no communicator and no device buffer to reduce.
#include "../../cuda/nccl.h"

namespace peftjs {
namespace cuda {
bool nccl_available(std::string* why_not) { return no_cuda(why_not); }
std::string nccl_path() { return std::string(); }
std::string nccl_version() { return std::string(); }
bool nccl_unique_id(unsigned char*, std::string* error) { return no_cuda(error); }
bool nccl_comm_init(int, int, const unsigned char*, std::string* error) { return no_cuda(error); }
bool nccl_ready() { return false; }
int nccl_size() { return 0; }
void nccl_comm_end(bool) {}
bool nccl_all_reduce(const NcclSpan*, size_t, bool, std::string* error) { return no_cuda(error); }
bool nccl_broadcast(const NcclSpan*, size_t, int, std::string* error) { return no_cuda(error); }
}  // namespace cuda
}  // namespace peftjs

#endif  // PEFTJS_WITH_CUDA
