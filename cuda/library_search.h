// Where NVIDIA's run-time libraries live when the dynamic loader's own search (LD_LIBRARY_PATH, the cache)
// does not find them: the CUDA toolkit, the distribution's library directory, conda, and NVIDIA's Python
// wheels (site-packages/nvidia/<package>/lib of every python3.X under /usr/lib, /usr/local/lib,
// ~/.local/lib, $VIRTUAL_ENV/lib, $CONDA_PREFIX/lib, and the PYTHONPATH entries), which is where a machine
// set up for PyTorch has libnccl and libcublasLt. Used by the loaders that dlopen() a library on first use
// (nccl.cu, cublaslt.cu).
//
// Plain C++ (no CUDA headers), header-only: each loader includes it in one translation unit.
#pragma once

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace peftjs {
namespace cuda {
namespace library_search {

inline bool is_dir(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

inline bool is_file(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && !S_ISDIR(st.st_mode);
}

inline std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

// "0", "off", "none", ...: a library-path variable set to one of these disables the library.
inline bool disabled_value(std::string v) {
  for (char& ch : v) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return v == "0" || v == "off" || v == "none" || v == "false" || v == "no" || v == "disable" || v == "disabled";
}

inline void add_unique(std::vector<std::string>* dirs, const std::string& dir) {
  if (dir.empty()) return;
  if (std::find(dirs->begin(), dirs->end(), dir) == dirs->end()) dirs->push_back(dir);
}

// packages/<sub> for each wheel sub-directory (e.g. "nvidia/nccl/lib").
inline void add_wheel_dirs(std::vector<std::string>* dirs, const std::string& packages,
                           const std::vector<std::string>& wheel_subdirs) {
  for (const std::string& sub : wheel_subdirs) add_unique(dirs, packages + "/" + sub);
}

// <base>/python3.X/{site,dist}-packages/<sub> for every python3.X directory under base.
inline void add_python_dirs(std::vector<std::string>* dirs, const std::string& base,
                            const std::vector<std::string>& wheel_subdirs) {
  DIR* d = opendir(base.c_str());
  if (d == nullptr) return;
  std::vector<std::string> found;
  while (const dirent* e = readdir(d))
    if (std::strncmp(e->d_name, "python3.", 8) == 0) found.push_back(base + "/" + e->d_name);
  closedir(d);
  std::sort(found.begin(), found.end());  // readdir's order is the file system's: keep the search reproducible
  for (const std::string& py : found)
    for (const char* sub : {"/site-packages", "/dist-packages"})
      if (is_dir(py + sub)) add_wheel_dirs(dirs, py + sub, wheel_subdirs);
}

// The directories to try, in order, for a library whose wheels put it under wheel_subdirs.
inline std::vector<std::string> search_dirs(const std::vector<std::string>& wheel_subdirs) {
#if defined(__aarch64__)
  const char* target = "sbsa-linux";
  const char* multiarch = "/usr/lib/aarch64-linux-gnu";
#else
  const char* target = "x86_64-linux";
  const char* multiarch = "/usr/lib/x86_64-linux-gnu";
#endif
  std::vector<std::string> dirs;
  for (const char* var : {"CUDA_HOME", "CUDA_PATH"}) {
    const std::string root = env(var);
    if (!root.empty()) {
      add_unique(&dirs, root + "/lib64");
      add_unique(&dirs, root + "/targets/" + target + "/lib");
    }
  }
  add_unique(&dirs, "/usr/local/cuda/lib64");
  add_unique(&dirs, std::string("/usr/local/cuda/targets/") + target + "/lib");
  add_unique(&dirs, multiarch);
  add_unique(&dirs, "/usr/lib64");
  const std::string conda = env("CONDA_PREFIX");
  if (!conda.empty()) add_unique(&dirs, conda + "/lib");
  std::vector<std::string> bases = {"/usr/lib", "/usr/local/lib"};
  const std::string home = env("HOME");
  if (!home.empty()) bases.push_back(home + "/.local/lib");
  for (const char* var : {"VIRTUAL_ENV", "CONDA_PREFIX"}) {
    const std::string prefix = env(var);
    if (!prefix.empty()) bases.push_back(prefix + "/lib");
  }
  for (const std::string& base : bases) add_python_dirs(&dirs, base, wheel_subdirs);
  // PYTHONPATH entries are site-packages-like directories themselves.
  const std::string pythonpath = env("PYTHONPATH");
  for (size_t start = 0; start <= pythonpath.size();) {
    const size_t end = std::min(pythonpath.find(':', start), pythonpath.size());
    if (end > start) add_wheel_dirs(&dirs, pythonpath.substr(start, end - start), wheel_subdirs);
    start = end + 1;
  }
  return dirs;
}

// How a loader's search ended (open_first).
enum class Search { found, disabled, not_found };

// The search every loader runs: the path in env var `forced` when set (a disabled_value there stops the
// search), each soname by the dynamic loader's own search, then each soname in each of `dirs`. try_open(name,
// &tried) opens and checks one candidate, appending why it failed to *tried; *tried lists every attempt.
template <typename TryOpen>
Search open_first(const char* forced_var, const std::vector<std::string>& sonames, const std::vector<std::string>& dirs,
                  TryOpen try_open, std::string* tried) {
  const std::string forced = env(forced_var);
  if (!forced.empty()) {
    if (disabled_value(forced)) return Search::disabled;
    if (try_open(forced, tried)) return Search::found;
    *tried = std::string(forced_var) + "=" + *tried;
  }
  for (const std::string& soname : sonames)
    if (try_open(soname, tried)) return Search::found;
  for (const std::string& soname : sonames)
    for (const std::string& dir : dirs) {
      const std::string path = dir + "/" + soname;
      if (is_file(path) && try_open(path, tried)) return Search::found;
    }
  return Search::not_found;
}

// "a, b, c": the directories searched, for the not-found message.
inline std::string joined(const std::vector<std::string>& dirs) {
  std::string out;
  for (const std::string& dir : dirs) out += (out.empty() ? "" : ", ") + dir;
  return out;
}

}  // namespace library_search
}  // namespace cuda
}  // namespace peftjs
