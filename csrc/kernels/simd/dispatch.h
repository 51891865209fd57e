// The one rule by which a kernel picks its build for the CPU path in use (cpu_features.h): the entry of
// the active path, or where that path has none (null, or not given), the next path down; null from
// scalar means the kernel has no build for this path and the caller takes another route. Every kernel dispatches through here, so PEFTJS_CPU / setCpuPath reach them all alike.
#pragma once

#include "../../runtime/cpu_features.h"

namespace peftjs {

// Whether the active path has path p's instructions (paths are ordered scalar < avx2 < avx512).
inline bool cpu_path_has(CpuPath p) { return static_cast<int>(active_cpu_path()) >= static_cast<int>(p); }

// The active path's entry of {scalar, avx2, avx512}, falling back down where one is null. Fn is a
// function pointer (or any type that tests false when absent); a factory, such as a function returning
// a rank's kernel, is picked first and called after, so no other path's code runs.
template <class Fn>
Fn for_cpu_path(Fn scalar, Fn avx2, Fn avx512 = nullptr) {
  if (avx512 && cpu_path_has(CpuPath::Avx512)) return avx512;
  if (avx2 && cpu_path_has(CpuPath::Avx2)) return avx2;
  return scalar;
}

}  // namespace peftjs
