// NCCL, loaded at run time (see nccl.h for why): the library search, the process's one communicator, and
// the in-place all-reduce and broadcast of float32 device buffers on the cuda backend's stream.
//
// Loading (once, on first use; a function-local static, so thread-safe): PEFTJS_NCCL_LIB (a full path, or
// off / 0 / none to disable NCCL), then libnccl.so.2 by the dynamic loader's search path (LD_LIBRARY_PATH,
// the cache), then the same name in the usual places (library_search.h), among them the nvidia-nccl Python
// wheels' site-packages/nvidia/nccl/lib that PyTorch installs. Every attempt that fails is recorded for
// nccl_available()'s message. The library is never unloaded.
//
// Streams: every collective is queued on detail::stream(), the stream every kernel and copy of the backend
// runs on, so it starts after the kernels that wrote the gradients and the optimizer's kernels start after
// it, with no host wait anywhere (NCCL returns once the work is queued). The host waits only where it reads
// a value back, as elsewhere in the backend. Several buffers are issued between ncclGroupStart and
// ncclGroupEnd, which NCCL runs as one launch: a LoRA model's hundreds of small gradients cost one
// collective's latency, as the MPI path's bucket does, without copying them into a bucket.
#include <cuda_runtime.h>
#include <dlfcn.h>

#include <algorithm>
#include <mutex>
#include <string>
#include <vector>

#include "common.cuh"
#include "device_api.h"
#include "library_search.h"
#include "../csrc/runtime/dl_library.h"
#include "nccl.h"

namespace peftjs {
namespace cuda {
namespace {

// Operations per ncclGroupStart/End. NCCL aggregates any number, but older 2.x releases kept a fixed-size
// table of the ops of one group; a few hundred per group already amortises the launch.
constexpr size_t kMaxOpsPerGroup = 256;

// ---- Loading --------------------------------------------------------------------------------------------

struct Library {
  void* so = nullptr;
  std::string path, version;
  nc::GetVersionFn get_version = nullptr;
  nc::GetUniqueIdFn get_unique_id = nullptr;
  nc::CommInitRankFn comm_init_rank = nullptr;
  nc::CommDestroyFn comm_destroy = nullptr;
  nc::CommAbortFn comm_abort = nullptr;
  nc::AllReduceFn all_reduce = nullptr;
  nc::BroadcastFn broadcast = nullptr;
  nc::GroupFn group_start = nullptr;
  nc::GroupFn group_end = nullptr;
  nc::GetErrorStringFn error_string = nullptr;
  nc::GetLastErrorFn last_error = nullptr;  // optional (NCCL >= 2.13)
};

struct State {
  bool ok = false;
  std::string why_not;
  Library lib;
};

// ncclGetVersion's code as "2.21.5" (see nccl.h for the two codings); *major gets the major version.
std::string version_string(int code, int* major) {
  int minor = 0, patch = 0;
  if (code >= 10000) {
    *major = code / 10000;
    minor = (code / 100) % 100;
  } else {
    *major = code / 1000;
    minor = (code / 100) % 10;
  }
  patch = code % 100;
  return std::to_string(*major) + "." + std::to_string(minor) + "." + std::to_string(patch);
}

// dlopen()s `name` (a file name for the loader's search, or a path) and resolves the entry points. On
// failure appends "<name>: <reason>" to *tried and leaves *lib empty.
bool try_open(const std::string& name, Library* lib, std::string* tried) {
  auto failed = [&](const std::string& why) { return dl::note_failure(name, why, tried); };
  void* so = dl::open(name, RTLD_NOW | RTLD_LOCAL, tried);
  if (so == nullptr) return false;
  Library l;
  l.so = so;
  std::string missing;
  bool all = true;
  all &= dl::resolve(so, "ncclGetVersion", &l.get_version, &missing);
  all &= dl::resolve(so, "ncclGetUniqueId", &l.get_unique_id, &missing);
  all &= dl::resolve(so, "ncclCommInitRank", &l.comm_init_rank, &missing);
  all &= dl::resolve(so, "ncclCommDestroy", &l.comm_destroy, &missing);
  all &= dl::resolve(so, "ncclCommAbort", &l.comm_abort, &missing);
  all &= dl::resolve(so, "ncclAllReduce", &l.all_reduce, &missing);
  all &= dl::resolve(so, "ncclBroadcast", &l.broadcast, &missing);
  all &= dl::resolve(so, "ncclGroupStart", &l.group_start, &missing);
  all &= dl::resolve(so, "ncclGroupEnd", &l.group_end, &missing);
  all &= dl::resolve(so, "ncclGetErrorString", &l.error_string, &missing);
  if (!all) {
    dlclose(so);
    return failed("not a usable NCCL (missing " + missing + ")");
  }
  std::string optional;
  dl::resolve(so, "ncclGetLastError", &l.last_error, &optional);
  int code = 0, major = 0;
  if (l.get_version(&code) != nc::ncclSuccess) {
    dlclose(so);
    return failed("ncclGetVersion failed");
  }
  l.version = version_string(code, &major);
  if (major != 2) {
    dlclose(so);
    return failed("NCCL " + l.version + " is not NCCL 2.x, the ABI peftjs declares");
  }
  l.path = dl::mapped_path(reinterpret_cast<void*>(l.get_version), name);
  *lib = l;
  return true;
}

// Finds and opens the library; false with *why_not saying what was tried.
bool load(Library* lib, std::string* why_not) {
  std::string tried;
  // nvidia-nccl-cu12 / -cu13 wheels (what `pip install torch` brings) and the CUDA 13 wheels' shared tree.
  const std::vector<std::string> dirs = library_search::search_dirs({"nvidia/nccl/lib", "nvidia/cu13/lib"});
  const auto try_one = [&](const std::string& name, std::string* t) { return try_open(name, lib, t); };
  switch (library_search::open_first("PEFTJS_NCCL_LIB", {"libnccl.so.2"}, dirs, try_one, &tried)) {
    case library_search::Search::found: return true;
    case library_search::Search::disabled:
      *why_not = "NCCL is disabled by PEFTJS_NCCL_LIB=" + library_search::env("PEFTJS_NCCL_LIB");
      return false;
    case library_search::Search::not_found: break;
  }
  *why_not = "libnccl.so.2 was not found (" + tried + "; nor in " + library_search::joined(dirs) +
             "). Install NCCL (Debian/Ubuntu with NVIDIA's repository: apt-get install libnccl2; or `pip install "
             "nvidia-nccl-cu12`) or set PEFTJS_NCCL_LIB to the full path of libnccl.so.2";
  return false;
}

State make_state() {
  State s;
  s.ok = load(&s.lib, &s.why_not);
  return s;
}

const State& state() {
  static const State s = make_state();  // thread-safe one-time initialisation
  return s;
}

// ---- The communicator -----------------------------------------------------------------------------------

// Collectives come from the JS main thread; the mutex only keeps a stray second thread from racing init.
std::mutex g_mutex;
nc::CommHandle g_comm = nullptr;
int g_size = 0;

// "<what> failed: <NCCL's name for the result>[: <its last error message>]".
bool failed(const char* what, nc::Result r, std::string* error) {
  if (error == nullptr) return false;
  const Library& lib = state().lib;
  std::string text = lib.error_string != nullptr ? lib.error_string(r) : "error";
  text += " (ncclResult_t " + std::to_string(r) + ")";
  if (lib.last_error != nullptr) {
    const char* last = lib.last_error(g_comm);
    if (last != nullptr && last[0] != '\0') text += ": " + std::string(last);
  }
  *error = std::string(what) + " failed: " + text;
  return false;
}

// Why no collective can run now (library or communicator missing); true when one can.
bool usable(const char* what, std::string* error) {
  std::string why;
  if (!nccl_available(&why)) {
    if (error) *error = std::string(what) + ": NCCL is unavailable: " + why;
    return false;
  }
  if (g_comm == nullptr) {
    if (error) *error = std::string(what) + ": no NCCL communicator (ncclInit has not run, or it failed or ended)";
    return false;
  }
  return true;
}

// Issues op(span) for every span, at most kMaxOpsPerGroup per ncclGroupStart/End.
template <class Op>
bool grouped(const NcclSpan* spans, size_t count, const char* what, Op op, std::string* error) {
  const Library& lib = state().lib;
  for (size_t first = 0; first < count; first += kMaxOpsPerGroup) {
    const size_t last = std::min(count, first + kMaxOpsPerGroup);
    nc::Result r = lib.group_start();
    if (r != nc::ncclSuccess) return failed("ncclGroupStart", r, error);
    nc::Result issued = nc::ncclSuccess;
    for (size_t i = first; i < last && issued == nc::ncclSuccess; ++i)
      if (spans[i].n > 0) issued = op(spans[i]);
    // The group is closed whatever happened inside it: an open group would swallow every later call.
    r = lib.group_end();
    if (issued != nc::ncclSuccess) return failed(what, issued, error);
    if (r != nc::ncclSuccess) return failed("ncclGroupEnd", r, error);
  }
  return true;
}

}  // namespace

// ---- API ------------------------------------------------------------------------------------------------

bool nccl_available(std::string* why_not) {
  const State& s = state();
  if (why_not) *why_not = s.ok ? std::string() : s.why_not;
  return s.ok;
}

std::string nccl_path() { return state().lib.path; }
std::string nccl_version() { return state().lib.version; }

bool nccl_unique_id(unsigned char* id, std::string* error) {
  std::string why;
  if (!nccl_available(&why)) {
    if (error) *error = "ncclGetUniqueId: NCCL is unavailable: " + why;
    return false;
  }
  nc::UniqueId uid{};
  const nc::Result r = state().lib.get_unique_id(&uid);
  if (r != nc::ncclSuccess) return failed("ncclGetUniqueId", r, error);
  std::copy(uid.internal, uid.internal + kNcclUniqueIdBytes, id);
  return true;
}

bool nccl_comm_init(int rank, int size, const unsigned char* id, std::string* error) {
  std::lock_guard<std::mutex> lock(g_mutex);
  std::string why;
  if (!nccl_available(&why)) {
    if (error) *error = "ncclCommInitRank: NCCL is unavailable: " + why;
    return false;
  }
  if (g_comm != nullptr) {
    if (error) *error = "ncclCommInitRank: this process already has an NCCL communicator";
    return false;
  }
  if (size < 1 || rank < 0 || rank >= size) {
    if (error) *error = "ncclCommInitRank: rank " + std::to_string(rank) + " is not in a world of " + std::to_string(size);
    return false;
  }
  // NCCL binds the communicator to the current device: the one the backend's stream (created on first use,
  // which also makes the device's context current) and every buffer live on.
  (void)detail::stream();
  int device = -1;
  if (!detail::ok(cudaGetDevice(&device), "ncclCommInitRank: cudaGetDevice", error)) return false;
  nc::UniqueId uid{};
  std::copy(id, id + kNcclUniqueIdBytes, uid.internal);
  nc::CommHandle comm = nullptr;
  const nc::Result r = state().lib.comm_init_rank(&comm, size, uid, rank);
  if (r != nc::ncclSuccess) {
    failed("ncclCommInitRank", r, error);
    if (error) {
      *error += " (rank " + std::to_string(rank) + " of " + std::to_string(size) + ", CUDA device " + std::to_string(device) + ")";
      // Every rank uses its process's current device, 0 unless told otherwise: ranks sharing a node must be
      // given a GPU each, or NCCL refuses the duplicate.
      if (r == nc::ncclInvalidUsage)
        *error += ". Ranks on one node need a GPU each: start each with CUDA_VISIBLE_DEVICES set to its "
                  "local rank (Open MPI: OMPI_COMM_WORLD_LOCAL_RANK)";
    }
    return false;
  }
  g_comm = comm;
  g_size = size;
  return true;
}

bool nccl_ready() {
  std::lock_guard<std::mutex> lock(g_mutex);
  return g_comm != nullptr;
}

int nccl_size() {
  std::lock_guard<std::mutex> lock(g_mutex);
  return g_comm != nullptr ? g_size : 0;
}

void nccl_comm_end(bool destroy) {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (g_comm == nullptr) return;
  const Library& lib = state().lib;
  (void)(destroy ? lib.comm_destroy(g_comm) : lib.comm_abort(g_comm));
  g_comm = nullptr;
  g_size = 0;
}

bool nccl_all_reduce(const NcclSpan* spans, size_t count, bool mean, std::string* error) {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (!usable("ncclAllReduce", error)) return false;
  const Library& lib = state().lib;
  cudaStream_t s = detail::stream();
  auto op = [&](const NcclSpan& sp) {
    return lib.all_reduce(sp.data, sp.data, static_cast<size_t>(sp.n), nc::ncclFloat32, nc::ncclSum, g_comm, s);
  };
  if (!grouped(spans, count, "ncclAllReduce", op, error)) return false;
  if (!mean || g_size == 1) return true;
  // The mean as distAllReduce takes it on the host: the float32 sum times 1 / size, one rounding (not NCCL's
  // ncclAvg, which scales each rank's values before summing). beta -0: x * inv + (-0) is x * inv exactly,
  // signed zeros included (+0 would turn a -0 into +0).
  const float inv = 1.0f / static_cast<float>(g_size);
  for (size_t i = 0; i < count; ++i)
    if (spans[i].n > 0 && !scale(spans[i].data, spans[i].data, spans[i].n, inv, -0.0f, error)) return false;
  return true;
}

bool nccl_broadcast(const NcclSpan* spans, size_t count, int root, std::string* error) {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (!usable("ncclBroadcast", error)) return false;
  if (root < 0 || root >= g_size) {
    if (error) *error = "ncclBroadcast: root " + std::to_string(root) + " is not a rank in [0, " + std::to_string(g_size) + ")";
    return false;
  }
  const Library& lib = state().lib;
  cudaStream_t s = detail::stream();
  auto op = [&](const NcclSpan& sp) {
    return lib.broadcast(sp.data, sp.data, static_cast<size_t>(sp.n), nc::ncclFloat32, root, g_comm, s);
  };
  return grouped(spans, count, "ncclBroadcast", op, error);
}

}  // namespace cuda
}  // namespace peftjs
