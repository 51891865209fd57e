// MPI through dlopen (see mpi_loader.h): the Open MPI ABI declared by hand, the library opened on first use.
#include "mpi_loader.h"

#include "dl_library.h"

#include <dlfcn.h>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <climits>
#include <cstdio>  // snprintf
#include <cstdlib>
#include <mutex>
#include <thread>

namespace peftjs::mpi {
namespace {

// Open MPI's handles are pointers to its predefined objects (struct ompi_communicator_t* and so on); the
// functions only pass them through, so opaque pointers declare them exactly.
using Comm = void*;
using Datatype = void*;
using Op = void*;

constexpr int kSuccess = 0;                         // MPI_SUCCESS
constexpr int kThreadFunneled = 1;                  // Open MPI: enum { SINGLE, FUNNELED, SERIALIZED, MULTIPLE }
void* const kInPlace = reinterpret_cast<void*>(1);  // Open MPI's MPI_IN_PLACE

struct Library {
  void* so = nullptr;
  int (*initialized)(int*) = nullptr;
  int (*finalized)(int*) = nullptr;
  int (*init_thread)(int*, char***, int, int*) = nullptr;
  int (*comm_rank)(Comm, int*) = nullptr;
  int (*comm_size)(Comm, int*) = nullptr;
  int (*allreduce)(const void*, void*, int, Datatype, Op, Comm) = nullptr;
  int (*bcast)(void*, int, Datatype, int, Comm) = nullptr;
  int (*barrier)(Comm) = nullptr;
  int (*finalize)() = nullptr;
  int (*abort)(Comm, int) = nullptr;
  int (*error_string)(int, char*, int*) = nullptr;
  Comm comm_world = nullptr;  // &ompi_mpi_comm_world
  Datatype float_type = nullptr;  // &ompi_mpi_float
  Datatype byte_type = nullptr;   // &ompi_mpi_byte
  Op op_sum = nullptr;            // &ompi_mpi_op_sum
};

std::mutex g_mutex;
Library g_lib;
World g_world;
bool g_initialised = false;
bool g_finalized = false;

const char* kInstallHint =
    "peftjs's distributed training needs Open MPI at run time: install it (Debian/Ubuntu: apt-get install "
    "openmpi-bin; Fedora: dnf install openmpi; macOS: brew install open-mpi) or set PEFTJS_MPI_LIB to the "
    "path of its libmpi.so";

// Opens `name` and resolves every entry; on failure appends "<name>: <reason>" to *tried.
bool try_open(const std::string& name, Library* lib, std::string* tried) {
  auto failed = [&](const std::string& why) { return dl::note_failure(name, why, tried); };
  // RTLD_GLOBAL: Open MPI's components are plugins dlopen()ed by libmpi, and they resolve libmpi's own
  // symbols from the global namespace (with RTLD_LOCAL MPI_Init fails to load them).
  void* so = dl::open(name, RTLD_NOW | RTLD_GLOBAL, tried);
  if (so == nullptr) return false;
  Library l;
  l.so = so;
  std::string missing;
  bool all = true;
  all &= dl::resolve(so, "MPI_Initialized", &l.initialized, &missing);
  all &= dl::resolve(so, "MPI_Finalized", &l.finalized, &missing);
  all &= dl::resolve(so, "MPI_Init_thread", &l.init_thread, &missing);
  all &= dl::resolve(so, "MPI_Comm_rank", &l.comm_rank, &missing);
  all &= dl::resolve(so, "MPI_Comm_size", &l.comm_size, &missing);
  all &= dl::resolve(so, "MPI_Allreduce", &l.allreduce, &missing);
  all &= dl::resolve(so, "MPI_Bcast", &l.bcast, &missing);
  all &= dl::resolve(so, "MPI_Barrier", &l.barrier, &missing);
  all &= dl::resolve(so, "MPI_Finalize", &l.finalize, &missing);
  all &= dl::resolve(so, "MPI_Abort", &l.abort, &missing);
  all &= dl::resolve(so, "MPI_Error_string", &l.error_string, &missing);
  if (!all) return failed("not an MPI library (missing " + missing + ")");
  std::string handles;
  bool ompi = true;
  ompi &= dl::resolve(so, "ompi_mpi_comm_world", &l.comm_world, &handles);
  ompi &= dl::resolve(so, "ompi_mpi_float", &l.float_type, &handles);
  ompi &= dl::resolve(so, "ompi_mpi_byte", &l.byte_type, &handles);
  ompi &= dl::resolve(so, "ompi_mpi_op_sum", &l.op_sum, &handles);
  // Left open: an MPI library cannot be unloaded once its symbols may have been used.
  if (!ompi) return failed("not Open MPI (missing " + handles + "; MPICH's ABI is not supported)");
  *lib = l;
  return true;
}

bool load(std::string* why) {
  if (g_lib.so != nullptr) return true;
  std::string tried;
  const char* env = std::getenv("PEFTJS_MPI_LIB");
  const bool ok = (env != nullptr && env[0] != '\0') ? try_open(env, &g_lib, &tried)
                                                     : try_open("libmpi.so.40", &g_lib, &tried);
  if (!ok) *why = "cannot load MPI (" + tried + "); " + kInstallHint;
  return ok;
}

bool check(int rc, const char* what, std::string* why) {
  if (rc == kSuccess) return true;
  char text[512];
  int len = 0;
  std::string s = "error " + std::to_string(rc);
  if (g_lib.error_string != nullptr && g_lib.error_string(rc, text, &len) == kSuccess && len > 0)
    s = std::string(text, static_cast<size_t>(len));
  *why = std::string(what) + " failed: " + s;
  return false;
}

bool ready(const char* what, std::string* why) {
  if (g_initialised && !g_finalized) return true;
  *why = std::string(what) + ": MPI is not initialised" + (g_finalized ? " (it was finalized)" : " (call distInit first)");
  return false;
}

// The collective watchdog. Open MPI ends the whole job when a rank dies (mpirun sees the process exit or
// get killed and kills the rest), so a dead rank never leaves the others waiting; a rank that is alive
// but stuck (deadlocked, stopped, spinning outside MPI) would. So each collective records when it began,
// and a thread checks once a second: past PEFTJS_DIST_TIMEOUT seconds (default 1800, torch.distributed's
// default; 0: off) in one collective, it says so on stderr and ends this process with status 1 (_exit:
// nothing else runs in a process whose main thread is stuck in MPI), and mpirun then ends the job. The
// stuck rank cannot be named from here (it is the one not in the collective); every waiting rank prints.
std::atomic<int64_t> g_entered_ns{0};  // steady-clock ns when the current collective began; 0: none
std::atomic<const char*> g_entered_what{"collective"};
int64_t g_timeout_s = 1800;

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

struct Watched {
  explicit Watched(const char* what) {
    g_entered_what.store(what);
    g_entered_ns.store(now_ns());
  }
  ~Watched() { g_entered_ns.store(0); }
};

// Reads PEFTJS_DIST_TIMEOUT into g_timeout_s; false (with *why) when it is not a whole number of seconds.
bool read_timeout(std::string* why) {
  const char* env = std::getenv("PEFTJS_DIST_TIMEOUT");
  if (env == nullptr || env[0] == '\0') return true;
  char* end = nullptr;
  const long long v = std::strtoll(env, &end, 10);
  if (end == env || *end != '\0' || v < 0) {
    *why = std::string("PEFTJS_DIST_TIMEOUT must be a whole number of seconds (0: no collective watchdog), got '") + env + "'";
    return false;
  }
  g_timeout_s = v;
  return true;
}

void start_watchdog(int rank, int size) {
  if (g_timeout_s == 0 || size < 2) return;
  std::thread([rank, size] {
    for (;;) {
      std::this_thread::sleep_for(std::chrono::milliseconds(g_timeout_s < 10 ? 200 : 1000));
      const int64_t began = g_entered_ns.load();
      if (began == 0 || now_ns() - began < g_timeout_s * 1000000000LL) continue;
      char line[512];
      const int n = std::snprintf(line, sizeof line,
                                  "peftjs: rank %d of %d: %s has waited %lld s for the other ranks (PEFTJS_DIST_TIMEOUT): "
                                  "some rank is stuck outside it (or in a step longer than the timeout); ending the job\n",
                                  rank, size, g_entered_what.load(), static_cast<long long>((now_ns() - began) / 1000000000LL));
      if (n > 0) {
        const ssize_t ignored = ::write(2, line, static_cast<size_t>(n < static_cast<int>(sizeof line) ? n : sizeof line - 1));
        (void)ignored;
      }
      std::_Exit(1);
    }
  }).detach();
}

}  // namespace

bool init(World* world, std::string* why) {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (g_initialised) {
    if (g_finalized) {
      *why = "MPI was finalized in this process and cannot be initialised again";
      return false;
    }
    *world = g_world;
    return true;
  }
  if (!read_timeout(why) || !load(why)) return false;
  int already = 0;
  if (!check(g_lib.initialized(&already), "MPI_Initialized", why)) return false;
  World w;
  if (!already) {
    // argc/argv may be null since MPI-2; mpirun passes what ranks need through the environment.
    if (!check(g_lib.init_thread(nullptr, nullptr, kThreadFunneled, &w.thread_level), "MPI_Init_thread", why))
      return false;
    w.initialised_here = true;
  } else {
    w.thread_level = -1;  // unknown: someone else initialised it
  }
  if (!check(g_lib.comm_rank(g_lib.comm_world, &w.rank), "MPI_Comm_rank", why)) return false;
  if (!check(g_lib.comm_size(g_lib.comm_world, &w.size), "MPI_Comm_size", why)) return false;
  w.library = dl::mapped_path(reinterpret_cast<void*>(g_lib.init_thread), "libmpi");
  g_world = w;
  g_initialised = true;
  start_watchdog(w.rank, w.size);
  *world = w;
  return true;
}

bool active() {
  std::lock_guard<std::mutex> lock(g_mutex);
  return g_initialised && !g_finalized;
}

bool allreduce_sum(float* data, int64_t n, std::string* why) {
  if (!ready("allReduce", why)) return false;
  const Watched watched("MPI_Allreduce");
  for (int64_t at = 0; at < n; at += INT_MAX) {
    const int count = static_cast<int>(n - at < INT_MAX ? n - at : INT_MAX);
    if (!check(g_lib.allreduce(kInPlace, data + at, count, g_lib.float_type, g_lib.op_sum, g_lib.comm_world),
               "MPI_Allreduce", why))
      return false;
  }
  return true;
}

bool broadcast(void* data, int64_t bytes, int root, std::string* why) {
  if (!ready("broadcast", why)) return false;
  const Watched watched("MPI_Bcast");
  char* p = static_cast<char*>(data);
  for (int64_t at = 0; at < bytes; at += INT_MAX) {
    const int count = static_cast<int>(bytes - at < INT_MAX ? bytes - at : INT_MAX);
    if (!check(g_lib.bcast(p + at, count, g_lib.byte_type, root, g_lib.comm_world), "MPI_Bcast", why)) return false;
  }
  return true;
}

bool barrier(std::string* why) {
  if (!ready("barrier", why)) return false;
  const Watched watched("MPI_Barrier");
  return check(g_lib.barrier(g_lib.comm_world), "MPI_Barrier", why);
}

void finalize() {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (!g_initialised || g_finalized || !g_world.initialised_here) return;
  int done = 0;
  g_lib.finalized(&done);
  if (!done) g_lib.finalize();
  g_finalized = true;
}

void abort(int code) {
  if (g_lib.so != nullptr && g_initialised && !g_finalized) g_lib.abort(g_lib.comm_world, code);
  std::_Exit(code);
}

}  // namespace peftjs::mpi
