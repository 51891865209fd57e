// MPI loaded at run time: the addon never links against MPI and needs no mpi.h to build. The first call
// dlopen()s PEFTJS_MPI_LIB, else Open MPI's libmpi.so.40, and resolves the few functions and predefined
// handles the collectives below use, declared here from Open MPI's ABI (mpi.h of Open MPI 3.x-5.x: a
// handle is the address of one of the library's global objects, MPI_IN_PLACE is (void*)1). MPICH and its
// derivatives have another ABI (integer handles) and are refused by name.
//
// Every collective runs on MPI_COMM_WORLD from the thread that initialised MPI (the JS main thread), so
// MPI is initialised with MPI_THREAD_FUNNELED. Open MPI's default error handler on MPI_COMM_WORLD aborts the
// whole job on a communication failure, so a failed collective does not come back here to hang; a rank that
// dies is noticed by mpirun, which ends the job. For a rank that stays alive but never reaches a collective,
// a watchdog thread ends a process that has waited in one collective longer than PEFTJS_DIST_TIMEOUT
// seconds (default 1800; 0: off), and mpirun then ends the rest (mpi_loader.cc).
#pragma once

#include <cstdint>
#include <string>

namespace peftjs::mpi {

struct World {
  int rank = 0;
  int size = 1;
  int thread_level = 0;  // what MPI_Init_thread provided (0 single ... 3 multiple)
  std::string library;   // the file the loader mapped
  bool initialised_here = false;  // false when the process had already initialised MPI
};

// Loads the library and initialises MPI once (later calls return the same world). On failure returns
// false and sets *why: what was tried and how to install Open MPI.
bool init(World* world, std::string* why);

// Whether init() succeeded and MPI is not finalized yet.
bool active();

// In-place sum of n floats over all ranks (chunked past INT_MAX elements).
bool allreduce_sum(float* data, int64_t n, std::string* why);

// Copies `bytes` bytes from root's buffer into every rank's (chunked past INT_MAX bytes).
bool broadcast(void* data, int64_t bytes, int root, std::string* why);

bool barrier(std::string* why);

// MPI_Finalize, once (a no-op when MPI was never initialised, was initialised by someone else, or is
// already finalized). Collective: every rank must call it.
void finalize();

// MPI_Abort(MPI_COMM_WORLD, code): ends every rank of the job (for a rank that fails alone, so the others
// do not wait for it in a collective forever).
[[noreturn]] void abort(int code);

}  // namespace peftjs::mpi
