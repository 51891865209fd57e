// NCCL collectives on the cuda backend's device buffers (lib/dist routes cuda tensors here): NCCL loaded at
// run time (cuda/nccl.h), its communicator bootstrapped over the MPI world of dist_binding.cc.
//   ncclInfo() -> {available, library, version, reason, ready}      (this process only; loads the library)
//   ncclInit() -> {nccl, reason, library, version}                    (collective, once; later calls repeat
//                                                                      the first answer without communicating)
//   cudaAllReduce(views, counts, 'sum' | 'mean')                      (in place, views [handle, offset])
//   cudaBroadcast(views, counts, root)                                (root's values into every rank's views)
// The collectives take lists of buffers because NCCL runs a group of them as one launch (a model's gradients
// in one call, as the MPI path's bucket, without copying them into one). They are queued on the backend's
// stream and return at once; nothing here waits for the device.
//
// ncclInit decides the same on every rank: each rank tries to load NCCL (and needs a CUDA device), the
// ranks that cannot are summed over MPI, and only if none is missing does rank 0 make the unique id, MPI
// broadcasts it, and every rank creates its communicator; the outcome of that is summed over MPI too. So
// either every rank has NCCL or none uses it (lib/dist then copies device buffers through the host), and a
// rank can never wait in NCCL for a peer that went the MPI way. Without CUDA compiled in every rank answers
// {nccl: false} with "built without CUDA", and the collectives throw it.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "../../cuda/device_api.h"
#include "../../cuda/nccl.h"
#include "../runtime/mpi_loader.h"
#include "args.h"
#include "bindings.h"
#include "device_handle.h"

namespace peftjs {
namespace {

// ---- ncclInit -------------------------------------------------------------------------------------------

struct InitOutcome {
  bool done = false;
  bool nccl = false;
  std::string reason;
};
InitOutcome g_init;

// "1, 3" for the ranks whose entry in flags is non-zero.
std::string ranks_with(const std::vector<float>& flags) {
  std::string out;
  for (size_t r = 0; r < flags.size(); ++r)
    if (flags[r] != 0.0f) out += (out.empty() ? "" : ", ") + std::to_string(r);
  return out;
}

// Sums one flag per rank over MPI (rank r's in slot r): every rank learns which ranks raised theirs.
std::vector<float> gather_flags(const mpi::World& w, bool raised, const Napi::Env& env) {
  std::vector<float> flags(static_cast<size_t>(w.size), 0.0f);
  flags[static_cast<size_t>(w.rank)] = raised ? 1.0f : 0.0f;
  std::string why;
  if (!mpi::allreduce_sum(flags.data(), static_cast<int64_t>(flags.size()), &why))
    throw Napi::Error::New(env, "ncclInit: " + why);
  return flags;
}

// Whether this process can take part: NCCL loads and a CUDA device is visible (*why otherwise).
bool can_take_part(std::string* why) {
  if (!cuda::nccl_available(why)) return false;
  std::string no_device;
  if (cuda::device_count(&no_device) > 0) return true;
  *why = "no CUDA device for NCCL: " + no_device;
  return false;
}

// Rank 0's unique id (or its failure) to every rank: [status byte][128-byte id][message, NUL-terminated].
constexpr size_t kMessageBytes = 512;
bool share_unique_id(const mpi::World& w, unsigned char* id, std::string* root_error, const Napi::Env& env) {
  std::vector<unsigned char> buf(1 + cuda::kNcclUniqueIdBytes + kMessageBytes, 0);
  if (w.rank == 0) {
    std::string error;
    buf[0] = cuda::nccl_unique_id(buf.data() + 1, &error) ? 1 : 0;
    std::memcpy(buf.data() + 1 + cuda::kNcclUniqueIdBytes, error.data(), std::min(error.size(), kMessageBytes - 1));
  }
  std::string why;
  if (!mpi::broadcast(buf.data(), static_cast<int64_t>(buf.size()), 0, &why))
    throw Napi::Error::New(env, "ncclInit: broadcasting the NCCL id: " + why);
  std::memcpy(id, buf.data() + 1, cuda::kNcclUniqueIdBytes);
  *root_error = reinterpret_cast<const char*>(buf.data() + 1 + cuda::kNcclUniqueIdBytes);
  return buf[0] == 1;
}

InitOutcome init_everywhere(const mpi::World& w, const Napi::Env& env) {
  InitOutcome out;
  out.done = true;
  std::string why;
  const bool here = can_take_part(&why);
  const std::vector<float> missing = gather_flags(w, !here, env);
  const std::string missing_ranks = ranks_with(missing);
  if (!missing_ranks.empty()) {
    out.reason = "NCCL is unavailable on rank(s) " + missing_ranks + " of " + std::to_string(w.size) +
                 (here ? "" : " (here, rank " + std::to_string(w.rank) + ": " + why + ")");
    return out;
  }
  unsigned char id[cuda::kNcclUniqueIdBytes];
  std::string root_error;
  if (!share_unique_id(w, id, &root_error, env)) {
    out.reason = "rank 0 could not make the NCCL unique id: " + root_error;
    return out;
  }
  std::string error;
  const bool made = cuda::nccl_comm_init(w.rank, w.size, id, &error);
  const std::vector<float> failed = gather_flags(w, !made, env);
  const std::string failed_ranks = ranks_with(failed);
  if (!failed_ranks.empty()) {
    // The communicators that did come up are aborted (not destroyed: that would wait for the peers that have none).
    cuda::nccl_comm_end(false);
    out.reason = "the NCCL communicator could not be created on rank(s) " + failed_ranks +
                 (made ? "" : " (here, rank " + std::to_string(w.rank) + ": " + error + ")");
    return out;
  }
  out.nccl = true;
  return out;
}

Napi::Value NcclInit(const Napi::CallbackInfo& info) {
  Args args(info, "ncclInit", 0);
  if (!g_init.done) {
    if (!mpi::active()) throw Napi::Error::New(info.Env(), "ncclInit: MPI is not initialised (call distInit first)");
    mpi::World w;
    std::string why;
    if (!mpi::init(&w, &why)) throw Napi::Error::New(info.Env(), "ncclInit: " + why);  // the world made by distInit
    g_init = init_everywhere(w, info.Env());
  }
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("nccl", g_init.nccl);
  o.Set("reason", g_init.reason);
  o.Set("library", cuda::nccl_path());
  o.Set("version", cuda::nccl_version());
  return o;
}

Napi::Value NcclInfo(const Napi::CallbackInfo& info) {
  Args args(info, "ncclInfo", 0);
  std::string why;
  const bool available = cuda::nccl_available(&why);
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("available", available);
  o.Set("library", cuda::nccl_path());
  o.Set("version", cuda::nccl_version());
  o.Set("reason", why);
  o.Set("ready", cuda::nccl_ready());
  return o;
}

// ---- The collectives ------------------------------------------------------------------------------------

// The device views of argument 0 with the counts of argument 1, checked against their blocks, and refused
// if two overlap: in one NCCL group they would be reduced concurrently, in place, and race.
std::vector<cuda::NcclSpan> spans_of(const Args& args) {
  const Napi::Value views = args.value(0), counts = args.value(1);
  if (!views.IsArray()) args.fail_type("argument 'views' must be an Array of CUDA views, got " + ValueChecks::type_of(views));
  if (!counts.IsArray()) args.fail_type("argument 'counts' must be an Array of numbers, got " + ValueChecks::type_of(counts));
  const Napi::Array v = views.As<Napi::Array>(), c = counts.As<Napi::Array>();
  if (v.Length() != c.Length())
    args.fail_range("views and counts differ in length (" + std::to_string(v.Length()) + " and " + std::to_string(c.Length()) + ")");
  std::vector<cuda::NcclSpan> spans;
  spans.reserve(v.Length());
  for (uint32_t i = 0; i < v.Length(); ++i) {
    const std::string count_name = "counts[" + std::to_string(i) + "]", view_name = "views[" + std::to_string(i) + "]";
    const int64_t n = args.dim_of(c.Get(i), count_name.c_str());
    spans.push_back({device_view_of(args, v.Get(i), view_name.c_str(), n), n});
  }
  std::vector<size_t> order(spans.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return spans[a].data < spans[b].data; });
  for (size_t k = 1; k < order.size(); ++k) {
    const cuda::NcclSpan &lo = spans[order[k - 1]], &hi = spans[order[k]];
    if (lo.n > 0 && hi.n > 0 && lo.data + lo.n > hi.data)
      args.fail_range("views[" + std::to_string(std::min(order[k - 1], order[k])) + "] and views[" +
                      std::to_string(std::max(order[k - 1], order[k])) + "] overlap; each buffer may appear once");
  }
  return spans;
}

Napi::Value CudaAllReduce(const Napi::CallbackInfo& info) {
  Args args(info, "cudaAllReduce", 3);
  const std::string op = args.string(2, "op");
  if (op != "sum" && op != "mean") args.fail_range("op must be 'sum' or 'mean', got '" + op + "'");
  const std::vector<cuda::NcclSpan> spans = spans_of(args);
  std::string error;
  if (!cuda::nccl_all_reduce(spans.data(), spans.size(), op == "mean", &error))
    throw Napi::Error::New(info.Env(), "cudaAllReduce: " + error);
  return info.Env().Undefined();
}

Napi::Value CudaBroadcast(const Napi::CallbackInfo& info) {
  Args args(info, "cudaBroadcast", 3);
  const int64_t root = args.dim(2, "root");
  const int size = cuda::nccl_size();
  if (size > 0 && root >= size)
    args.fail_range("root must be a rank in [0, " + std::to_string(size) + "), got " + std::to_string(root));
  const std::vector<cuda::NcclSpan> spans = spans_of(args);
  std::string error;
  // A root past int's range cannot be a rank: -1 makes nccl_broadcast refuse it (when no check above could).
  const int root_rank = root <= INT32_MAX ? static_cast<int>(root) : -1;
  if (!cuda::nccl_broadcast(spans.data(), spans.size(), root_rank, &error))
    throw Napi::Error::New(info.Env(), "cudaBroadcast: " + error);
  return info.Env().Undefined();
}

}  // namespace

void register_nccl(Napi::Env env, Napi::Object exports) {
  set_functions(env, exports, {
      {"ncclInit", NcclInit},
      {"ncclInfo", NcclInfo},
      {"cudaAllReduce", CudaAllReduce},
      {"cudaBroadcast", CudaBroadcast},
  });
}

}  // namespace peftjs
