// The collectives of data-parallel training (lib/dist): MPI loaded at run time (runtime/mpi_loader.h), on
// Float32Arrays in host memory, blocking the calling (main) thread until every rank has taken part.
//   distInit() -> {rank, size, threadLevel, library}   (idempotent)
//   distAllReduce(Float32Array, 'sum' | 'mean')        (in place)
//   distBroadcast(Float32Array, root)                  (root's values into every rank's array)
//   distBarrier(), distFinalize(), distAbort(code)
// The cuda backend's device buffers go through NCCL instead where it loads (nccl_binding.cc).
// The names carry "dist" because the addon's exports are one flat namespace with the kernels'.
#include "../../cuda/nccl.h"
#include "../runtime/mpi_loader.h"
#include "args.h"
#include "bindings.h"

namespace peftjs {
namespace {

int g_size = 0;  // the world size once initialised (0 before), for checking a broadcast's root

Napi::Value DistInit(const Napi::CallbackInfo& info) {
  Args args(info, "distInit", 0);
  mpi::World w;
  std::string why;
  if (!mpi::init(&w, &why)) throw Napi::Error::New(info.Env(), "distInit: " + why);
  g_size = w.size;
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("rank", w.rank);
  o.Set("size", w.size);
  o.Set("threadLevel", w.thread_level);
  o.Set("library", w.library);
  return o;
}

Napi::Value DistAllReduce(const Napi::CallbackInfo& info) {
  Args args(info, "distAllReduce", 2);
  const FloatView v = args.floats(0, "data", 0);
  const std::string op = args.string(1, "op");
  if (op != "sum" && op != "mean") args.fail_range("op must be 'sum' or 'mean', got '" + op + "'");
  std::string why;
  if (!mpi::allreduce_sum(v.data, v.length, &why)) throw Napi::Error::New(info.Env(), "distAllReduce: " + why);
  if (op == "mean" && g_size > 1) {
    const float inv = 1.0f / static_cast<float>(g_size);
    for (int64_t i = 0; i < v.length; ++i) v.data[i] *= inv;
  }
  return info.Env().Undefined();
}

Napi::Value DistBroadcast(const Napi::CallbackInfo& info) {
  Args args(info, "distBroadcast", 2);
  const FloatView v = args.floats(0, "data", 0);
  const int64_t root = args.dim(1, "root");
  // Checked only once MPI is up (before, broadcast fails below with "call distInit first").
  if (g_size > 0 && root >= g_size)
    args.fail_range("root must be a rank in [0, " + std::to_string(g_size) + "), got " + std::to_string(root));
  std::string why;
  if (!mpi::broadcast(v.data, v.length * static_cast<int64_t>(sizeof(float)), static_cast<int>(root), &why))
    throw Napi::Error::New(info.Env(), "distBroadcast: " + why);
  return info.Env().Undefined();
}

Napi::Value DistBarrier(const Napi::CallbackInfo& info) {
  Args args(info, "distBarrier", 0);
  std::string why;
  if (!mpi::barrier(&why)) throw Napi::Error::New(info.Env(), "distBarrier: " + why);
  return info.Env().Undefined();
}

Napi::Value DistFinalize(const Napi::CallbackInfo& info) {
  Args args(info, "distFinalize", 0);
  // NCCL's communicator first (nccl_binding.cc bootstrapped it over this MPI world; every rank reaches here,
  // so its destroy, which flushes the queued collectives, finds its peers doing the same).
  cuda::nccl_comm_end(true);
  mpi::finalize();
  return info.Env().Undefined();
}

Napi::Value DistAbort(const Napi::CallbackInfo& info) {
  Args args(info, "distAbort", 1);
  const int64_t code = args.dim(0, "code");
  mpi::abort(static_cast<int>(code > 255 ? 255 : code));
}

}  // namespace

void register_dist(Napi::Env env, Napi::Object exports) {
  set_functions(env, exports, {
      {"distInit", DistInit},
      {"distAllReduce", DistAllReduce},
      {"distBroadcast", DistBroadcast},
      {"distBarrier", DistBarrier},
      {"distFinalize", DistFinalize},
      {"distAbort", DistAbort},
  });
}

}  // namespace peftjs
