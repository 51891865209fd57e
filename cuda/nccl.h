// NCCL for the cuda backend's collectives, found at run time: nothing here needs NCCL to build or install.
// As with cuBLASLt (cublaslt.h), the build machines have nvcc but no nccl.h and no libnccl, and the addon
// must load where NCCL is absent, so cuda/nccl.cu dlopen()s libnccl.so.2 on first use and calls it through
// the few declarations below (the project's own, with the numeric values of NVIDIA's public nccl.h,
// src/nccl.h.in of github.com/NVIDIA/nccl). When NCCL is not found, lib/dist falls back to copying device
// buffers to the host and reducing them over MPI.
//
// Bootstrapping: NCCL needs every rank to hold one 128-byte ncclUniqueId that rank 0 made. peftjs already
// has MPI up (runtime/mpi_loader.h), so the binding (dist_binding.cc) broadcasts those bytes over MPI:
// nccl_unique_id() on rank 0, mpi::broadcast, nccl_comm_init() on every rank. This file knows nothing of MPI.
//
// Plain C++ without CUDA headers: dist_binding.cc includes it in every build (cuda_stub.cc answers with
// "built without CUDA" when the addon has no CUDA).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

struct CUstream_st;  // cudaStream_t is `struct CUstream_st*` (driver_types.h); declared here without CUDA headers

namespace peftjs {
namespace cuda {

// --- API -------------------------------------------------------------------------------------------------

// Whether libnccl is loaded and its entry points resolved (nothing about a communicator). The first call
// loads it (thread-safe, once per process); afterwards this is a flag read. When false, *why_not (if given)
// says why: the library was not found (each place tried), PEFTJS_NCCL_LIB disabled it (off / 0 / none) or
// named a file that is not NCCL 2.x, or this build has no CUDA.
bool nccl_available(std::string* why_not);
// The file the library was loaded from ("" when none), and its version ("2.21.5"; "" when none).
std::string nccl_path();
std::string nccl_version();

constexpr size_t kNcclUniqueIdBytes = 128;  // NCCL_UNIQUE_ID_BYTES

// Rank 0's ncclGetUniqueId: writes kNcclUniqueIdBytes bytes to id.
bool nccl_unique_id(unsigned char* id, std::string* error);

// ncclCommInitRank(rank of size, id) on the current CUDA device (the one the cuda backend's stream runs on);
// collective over the ranks: each blocks until all have called it. Once per process: a second call with a
// communicator already made is refused. On failure *error names the NCCL error, and for a duplicate GPU
// (several ranks on one device) says how to give each rank its own.
bool nccl_comm_init(int rank, int size, const unsigned char* id, std::string* error);
// Whether a communicator is up, and its world size (0 when none).
bool nccl_ready();
int nccl_size();
// Ends the communicator. destroy: ncclCommDestroy (flushes the queued collectives; every rank should call it,
// as at MPI_Finalize); otherwise ncclCommAbort (a rank leaving after a failure, not waiting for the others).
// A no-op when there is none.
void nccl_comm_end(bool destroy);

// A float32 device buffer of n values (from the cuda backend's alloc).
struct NcclSpan {
  float* data;
  int64_t n;
};

// In place over all ranks, on the backend's stream (queued, never waited for): each span summed (mean: then
// multiplied by 1 / size, as distAllReduce does on the host, so 'mean' is the same float32 operation on
// both paths). Spans are issued together (ncclGroupStart/End: one launch for many small gradients).
bool nccl_all_reduce(const NcclSpan* spans, size_t count, bool mean, std::string* error);
// Root's values into every rank's spans, in place, on the backend's stream; issued together as above.
bool nccl_broadcast(const NcclSpan* spans, size_t count, int root, std::string* error);

// --- The NCCL ABI used -----------------------------------------------------------------------------------
// Values from nccl.h (NCCL 2.x; src/nccl.h.in upstream). They are ABI: NCCL keeps them within major version
// 2 (libnccl.so.2), so a program built against one 2.x header runs with any later 2.x library.
namespace nc {

using Result = int32_t;  // ncclResult_t
constexpr Result ncclSuccess = 0;
constexpr Result ncclUnhandledCudaError = 1;
constexpr Result ncclSystemError = 2;
constexpr Result ncclInternalError = 3;
constexpr Result ncclInvalidArgument = 4;
constexpr Result ncclInvalidUsage = 5;
constexpr Result ncclRemoteError = 6;
constexpr Result ncclInProgress = 7;

// ncclRedOp_t
constexpr int32_t ncclSum = 0;
// ncclDataType_t
constexpr int32_t ncclFloat32 = 7;

// NCCL_VERSION(X, Y, Z), what ncclGetVersion returns: X*1000 + Y*100 + Z up to 2.8, X*10000 + Y*100 + Z
// from 2.9 on. Only major version 2 is accepted (the soname's, and the ABI declared here).

struct Comm;                     // struct ncclComm (opaque)
using CommHandle = Comm*;        // ncclComm_t
struct UniqueId {                // ncclUniqueId: passed by value to ncclCommInitRank
  char internal[kNcclUniqueIdBytes];
};
static_assert(sizeof(UniqueId) == 128, "ncclUniqueId is 128 bytes");

// The entry points (C linkage in the library; enums passed as int32_t, as C passes them).
using GetVersionFn = Result (*)(int* version);
using GetUniqueIdFn = Result (*)(UniqueId* id);
using CommInitRankFn = Result (*)(CommHandle* comm, int nranks, UniqueId id, int rank);
using CommDestroyFn = Result (*)(CommHandle comm);
using CommAbortFn = Result (*)(CommHandle comm);
using AllReduceFn = Result (*)(const void* send, void* recv, size_t count, int32_t datatype, int32_t op, CommHandle comm,
                               CUstream_st* stream);
using BroadcastFn = Result (*)(const void* send, void* recv, size_t count, int32_t datatype, int root, CommHandle comm,
                               CUstream_st* stream);
using GroupFn = Result (*)();  // ncclGroupStart, ncclGroupEnd
using GetErrorStringFn = const char* (*)(Result result);
using GetLastErrorFn = const char* (*)(CommHandle comm);  // NCCL >= 2.13; optional

}  // namespace nc

}  // namespace cuda
}  // namespace peftjs
