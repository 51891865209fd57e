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

#endif  // PEFTJS_WITH_CUDA
