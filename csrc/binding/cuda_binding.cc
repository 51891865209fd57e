// CUDA device memory for JS: allocation, free, and copies between host Float32Arrays and the device.
// Present in every build; without CUDA (or without a GPU) each call throws an error saying why.
#include "../../cuda/cublaslt.h"
#include "../../cuda/device_api.h"
#include "../../cuda/gemm_support.h"
#include "args.h"
#include "bindings.h"
#include "device_handle.h"

namespace peftjs {

const napi_type_tag kDeviceBlockTag = {0x7065667466734355ULL, 0x4441424c4f434b31ULL};

DeviceBlock* device_block(const ValueChecks& checks, const Napi::Value& v, const char* name) {
  if (!v.IsExternal() || !v.As<Napi::Object>().CheckTypeTag(&kDeviceBlockTag))
    checks.fail_type(std::string("argument '") + name + "' must be a CUDA buffer handle, got " + ValueChecks::type_of(v));
  DeviceBlock* block = v.As<Napi::External<DeviceBlock>>().Data();
  if (block->freed) checks.fail_range(std::string("argument '") + name + "' is a freed CUDA buffer (disposed tensor)");
  return block;
}

float* device_view_of(const ValueChecks& checks, const Napi::Value& v, const char* name, int64_t needed) {
  if (!v.IsArray() || v.As<Napi::Array>().Length() != 2)
    checks.fail_type(std::string("argument '") + name + "' must be a CUDA view [handle, offset], got " + ValueChecks::type_of(v));
  Napi::Array pair = v.As<Napi::Array>();
  DeviceBlock* block = device_block(checks, pair.Get(0u), name);
  const Napi::Value off = pair.Get(1u);
  const double o = off.IsNumber() ? off.As<Napi::Number>().DoubleValue() : -1;
  if (!(o >= 0) || o != std::floor(o))
    checks.fail_range(std::string("offset of '") + name + "' must be a non-negative integer, got " + ValueChecks::type_of(off));
  const int64_t offset = static_cast<int64_t>(o);
  const int64_t capacity = static_cast<int64_t>(block->bytes / sizeof(float));
  if (offset + needed > capacity)
    checks.fail_range(std::string("argument '") + name + "' has " + std::to_string(capacity - std::min(offset, capacity)) +
                      " elements from offset " + std::to_string(offset) + ", expected at least " + std::to_string(needed));
  return static_cast<float*>(block->ptr) + offset;
}

namespace {

void check(const Args& args, bool ok, const std::string& error) {
  if (!ok) args.fail_range(error);
}

Napi::Value CudaDeviceCount(const Napi::CallbackInfo& info) {
  Args args(info, "cudaDeviceCount", 0);
  std::string why;
  const int n = cuda::device_count(&why);
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("count", n);
  o.Set("reason", why);
  return o;
}

Napi::Value CudaAlloc(const Napi::CallbackInfo& info) {
  Args args(info, "cudaAlloc", 1);
  const int64_t floats = args.dim(0, "floats");
  const int64_t bytes = args.checked_mul(floats, sizeof(float));
  std::string error;
  void* ptr = cuda::alloc(static_cast<size_t>(bytes), &error);
  if (ptr == nullptr) args.fail_range("cannot allocate " + std::to_string(bytes) + " bytes on the GPU: " + error);
  auto* block = new DeviceBlock{ptr, static_cast<size_t>(bytes), false};
  auto handle = Napi::External<DeviceBlock>::New(info.Env(), block, [](Napi::Env, DeviceBlock* b) {
    if (!b->freed) cuda::free(b->ptr, nullptr);
    delete b;
  });
  handle.TypeTag(&kDeviceBlockTag);
  return handle;
}

Napi::Value CudaFree(const Napi::CallbackInfo& info) {
  Args args(info, "cudaFree", 1);
  DeviceBlock* block = device_block(args, info[0], "handle");
  block->freed = true;
  std::string error;
  check(args, cuda::free(block->ptr, &error), error);
  return info.Env().Undefined();
}

// cudaUpload(view, host, n): device view <- host Float32Array
Napi::Value CudaUpload(const Napi::CallbackInfo& info) {
  Args args(info, "cudaUpload", 3);
  const int64_t n = args.dim(2, "n");
  float* dev = device_view(args, 0, "device", n);
  const FloatView host = args.floats(1, "host", n);
  std::string error;
  check(args, cuda::copy_to_device(dev, host.data, n * sizeof(float), &error), error);
  return info.Env().Undefined();
}

// cudaDownload(host, view, n): host Float32Array <- device view (synchronous)
Napi::Value CudaDownload(const Napi::CallbackInfo& info) {
  Args args(info, "cudaDownload", 3);
  const int64_t n = args.dim(2, "n");
  const FloatView host = args.floats(0, "host", n);
  const float* dev = device_view(args, 1, "device", n);
  std::string error;
  check(args, cuda::copy_to_host(host.data, dev, n * sizeof(float), &error), error);
  return info.Env().Undefined();
}

// cudaCopy(dstView, srcView, n): device to device
Napi::Value CudaCopy(const Napi::CallbackInfo& info) {
  Args args(info, "cudaCopy", 3);
  const int64_t n = args.dim(2, "n");
  float* dst = device_view(args, 0, "dst", n);
  const float* src = device_view(args, 1, "src", n);
  std::string error;
  check(args, cuda::copy_on_device(dst, src, n * sizeof(float), &error), error);
  return info.Env().Undefined();
}

Napi::Value CudaSynchronize(const Napi::CallbackInfo& info) {
  Args args(info, "cudaSynchronize", 0);
  std::string error;
  check(args, cuda::synchronize(&error), error);
  return info.Env().Undefined();
}

// cudaHostWaits(): how many times the host has waited for the device (downloads, value reads, synchronize)
// since the addon loaded; 0 without CUDA.
Napi::Value CudaHostWaits(const Napi::CallbackInfo& info) {
  Args args(info, "cudaHostWaits", 0);
  return Napi::Number::New(info.Env(), static_cast<double>(cuda::host_waits()));
}

// cudaGemmUnsupported(k2, a2, b2, colScale, act, preOut): the error cuda::gemm gives for a GemmArgs with
// those fields set (a2, b2, colScale, preOut: whether the pointer is non-null; act: none, relu, gelu,
// gelu_tanh or silu), or null when it implements them all. The check itself runs without a GPU, so the
// specs test it in every build; no pointer is dereferenced.
Napi::Value CudaGemmUnsupported(const Napi::CallbackInfo& info) {
  Args args(info, "cudaGemmUnsupported", 6);
  static float placeholder = 0.0f;  // stands for a non-null device pointer
  GemmArgs g;
  g.k2 = args.dim(0, "k2");
  if (args.boolean(1, "a2")) g.a2 = &placeholder;
  if (args.boolean(2, "b2")) g.b2 = &placeholder;
  if (args.boolean(3, "colScale")) g.col_scale = &placeholder;
  const std::string act = args.string(4, "act");
  if (act == "none") g.act = Activation::None;
  else if (act == "relu") g.act = Activation::Relu;
  else if (act == "gelu") g.act = Activation::Gelu;
  else if (act == "gelu_tanh") g.act = Activation::GeluTanh;
  else if (act == "silu") g.act = Activation::Silu;
  else args.fail_range("unknown activation '" + act + "' (expected none, relu, gelu, gelu_tanh or silu)");
  if (args.boolean(5, "preOut")) g.pre_out = &placeholder;
  std::string error;
  if (cuda::gemm_args_supported(g, &error)) return info.Env().Null();
  return Napi::String::New(info.Env(), error);
}

// cudaGemmLibrary(): which library the CUDA GEMMs use: {cublasLt: whether libcublasLt was found and works,
// path: the file loaded ("" if none), version: its version ("13.0.2"; "" if none), reason: why it is not
// used ("" when it is: then every covered GEMM runs on it)}. The first call loads the library (once per
// process); without CUDA compiled in it reports that.
Napi::Value CudaGemmLibrary(const Napi::CallbackInfo& info) {
  Args args(info, "cudaGemmLibrary", 0);
  std::string why;
  const bool ok = cuda::cublaslt_available(&why);
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("cublasLt", ok);
  o.Set("path", cuda::cublaslt_path());
  o.Set("version", cuda::cublaslt_version());
  o.Set("reason", why);
  return o;
}

// cudaSetAllowTf32(allow): TF32 tensor cores for the float32 GEMMs that run on cuBLASLt (off by default, as
// torch.backends.cuda.matmul.allow_tf32). Returns the previous setting.
Napi::Value CudaSetAllowTf32(const Napi::CallbackInfo& info) {
  Args args(info, "cudaSetAllowTf32", 1);
  const bool allow = args.boolean(0, "allow");
  const bool previous = cuda::allow_tf32();
  cuda::set_allow_tf32(allow);
  return Napi::Boolean::New(info.Env(), previous);
}

}  // namespace

void register_cuda(Napi::Env env, Napi::Object exports) {
  set_functions(env, exports, {
      {"cudaDeviceCount", CudaDeviceCount},
      {"cudaAlloc", CudaAlloc},
      {"cudaFree", CudaFree},
      {"cudaUpload", CudaUpload},
      {"cudaDownload", CudaDownload},
      {"cudaCopy", CudaCopy},
      {"cudaSynchronize", CudaSynchronize},
      {"cudaHostWaits", CudaHostWaits},
      {"cudaGemmUnsupported", CudaGemmUnsupported},
      {"cudaGemmLibrary", CudaGemmLibrary},
      {"cudaSetAllowTf32", CudaSetAllowTf32},
  });
}

}  // namespace peftjs
