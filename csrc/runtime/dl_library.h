// What the loaders of run-time libraries share (cuda/cublaslt.cu, cuda/nccl.cu, csrc/runtime/mpi_loader.cc):
// dlopen with the reason kept for the "not found" message, and dlsym into typed entry points collecting the
// names that are missing. Each loader keeps its own list of entry points and its own checks of the library.
#pragma once

#include <dlfcn.h>

#include <string>

namespace peftjs {
namespace dl {

// Appends "<name>: <why>" to *tried ("; "-separated) and returns false; dlerror() often starts with the name.
inline bool note_failure(const std::string& name, const std::string& why, std::string* tried) {
  if (!tried->empty()) *tried += "; ";
  *tried += why.compare(0, name.size(), name) == 0 ? why : name + ": " + why;
  return false;
}

// dlopen(name, flags), or nullptr with the reason appended to *tried.
inline void* open(const std::string& name, int flags, std::string* tried) {
  dlerror();
  void* so = dlopen(name.c_str(), flags);
  if (so == nullptr) {
    const char* e = dlerror();
    note_failure(name, e ? e : "dlopen failed", tried);
  }
  return so;
}

// *fn = the symbol `name` of `so`; false (and `name` appended to *missing, ", "-separated) when absent.
template <typename Fn>
bool resolve(void* so, const char* name, Fn* fn, std::string* missing) {
  void* p = dlsym(so, name);
  if (p == nullptr) {
    if (!missing->empty()) *missing += ", ";
    *missing += name;
    return false;
  }
  *fn = reinterpret_cast<Fn>(p);
  return true;
}

// The file the loader actually mapped for `symbol` (for a bare soname, the one its search found), else fallback.
inline std::string mapped_path(const void* symbol, const std::string& fallback) {
  Dl_info info;
  if (dladdr(symbol, &info) != 0 && info.dli_fname != nullptr && info.dli_fname[0] != '\0') return info.dli_fname;
  return fallback;
}

}  // namespace dl
}  // namespace peftjs
