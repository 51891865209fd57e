// info(): what this build is and what it chose at load: version, CPU path, threads, CUDA.
#include "../../cuda/device_api.h"
#include "../runtime/cpu_features.h"
#include "../runtime/probe.h"
#include "../runtime/thread_pool.h"
#include "args.h"
#include "bindings.h"

#ifndef PEFTJS_VERSION
#define PEFTJS_VERSION "0.0.0"
#endif

namespace peftjs {
namespace {

Napi::Value Info(const Napi::CallbackInfo& info) {
  Args args(info, "info", 0);
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("version", PEFTJS_VERSION);
  o.Set("cpuPath", cpu_path_name(active_cpu_path()));
  o.Set("cpuPathDetected", cpu_path_name(detected_cpu_path()));
  o.Set("avx512Bf16", cpu_has_avx512_bf16());
  o.Set("threads", num_threads());
  o.Set("cudaCompiled", cuda::compiled());
  std::string why;
  const int devices = cuda::device_count(&why);
  o.Set("cudaDevices", devices);
  if (devices == 0) o.Set("cudaUnavailableReason", why);
  return o;
}

Napi::Value SetNumThreads(const Napi::CallbackInfo& info) {
  Args args(info, "setNumThreads", 1);
  const int64_t n = args.dim(0, "threads");
  if (n < 1 || n > 256) args.fail_range("threads must be in [1, 256], got " + std::to_string(n));
  set_num_threads(static_cast<int>(n));
  return Napi::Number::New(info.Env(), num_threads());
}

Napi::Value SetCpuPath(const Napi::CallbackInfo& info) {
  Args args(info, "setCpuPath", 1);
  const std::string name = args.string(0, "path");
  CpuPath p;
  if (name == "scalar") p = CpuPath::Scalar;
  else if (name == "avx2") p = CpuPath::Avx2;
  else if (name == "avx512") p = CpuPath::Avx512;
  else args.fail_range("path must be 'scalar', 'avx2' or 'avx512', got '" + name + "'");
  return Napi::String::New(info.Env(), cpu_path_name(set_cpu_path(p)));
}

// probe(seconds): {fmaPeakGflops, memoryBandwidthGbps} of this machine, for benchmark ceilings.
Napi::Value Probe(const Napi::CallbackInfo& info) {
  Args args(info, "probe", 1);
  const double seconds = args.number(0, "seconds");
  if (!(seconds > 0 && seconds <= 60)) args.fail_range("seconds must be in (0, 60], got " + Args::show(seconds));
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("fmaPeakGflops", probe_fma_peak_gflops(seconds));
  o.Set("memoryBandwidthGbps", probe_memory_bandwidth_gbps(seconds));
  return o;
}

}  // namespace

void register_info(Napi::Env env, Napi::Object exports) {
  set_functions(env, exports, {
      {"info", Info},
      {"setNumThreads", SetNumThreads},
      {"setCpuPath", SetCpuPath},
      {"probe", Probe},
  });
}

}  // namespace peftjs
