#include "cpu_features.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

#if defined(__x86_64__) || defined(_M_X64)
#include <cpuid.h>
#define PEFTJS_X86 1
#endif

namespace peftjs {
namespace {

#ifdef PEFTJS_X86
unsigned long long read_xcr0() {
  unsigned int eax, edx;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<unsigned long long>(edx) << 32) | eax;
}

CpuPath probe() {
  unsigned int eax, ebx, ecx, edx;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return CpuPath::Scalar;
  const bool osxsave = ecx & (1u << 27);
  const bool avx = ecx & (1u << 28);
  const bool fma = ecx & (1u << 12);
  if (!osxsave || !avx || !fma) return CpuPath::Scalar;
  const unsigned long long xcr0 = read_xcr0();
  // The OS must save the YMM state (bits 1, 2) for AVX, and opmask/ZMM state (bits 5-7) for AVX-512.
  if ((xcr0 & 0x6) != 0x6) return CpuPath::Scalar;
  if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return CpuPath::Scalar;
  const bool avx2 = ebx & (1u << 5);
  if (!avx2) return CpuPath::Scalar;
  const bool avx512f = ebx & (1u << 16);
  const bool avx512dq = ebx & (1u << 17);
  const bool avx512bw = ebx & (1u << 30);
  const bool avx512vl = ebx & (1u << 31);
  if (avx512f && avx512dq && avx512bw && avx512vl && (xcr0 & 0xe6) == 0xe6) return CpuPath::Avx512;
  return CpuPath::Avx2;
}

// CPUID leaf 7, sub-leaf 1, EAX bit 5 (meaningful only where the AVX-512 state is enabled).
bool probe_avx512_bf16() {
  unsigned int eax, ebx, ecx, edx;
  if (probe() != CpuPath::Avx512) return false;
  if (!__get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx)) return false;
  return eax & (1u << 5);
}
#else
CpuPath probe() { return CpuPath::Scalar; }
bool probe_avx512_bf16() { return false; }
#endif

CpuPath from_env(CpuPath detected) {
  const char* env = std::getenv("PEFTJS_CPU");
  if (env == nullptr || *env == '\0') return detected;
  CpuPath wanted = detected;
  if (std::strcmp(env, "scalar") == 0) wanted = CpuPath::Scalar;
  else if (std::strcmp(env, "avx2") == 0) wanted = CpuPath::Avx2;
  else if (std::strcmp(env, "avx512") == 0) wanted = CpuPath::Avx512;
  return static_cast<int>(wanted) < static_cast<int>(detected) ? wanted : detected;
}

std::atomic<int>& active() {
  static std::atomic<int> path{static_cast<int>(from_env(detected_cpu_path()))};
  return path;
}

}  // namespace

CpuPath detected_cpu_path() {
  static const CpuPath detected = probe();
  return detected;
}

CpuPath active_cpu_path() { return static_cast<CpuPath>(active().load(std::memory_order_relaxed)); }

CpuPath set_cpu_path(CpuPath requested) {
  const CpuPath detected = detected_cpu_path();
  const CpuPath chosen = static_cast<int>(requested) < static_cast<int>(detected) ? requested : detected;
  active().store(static_cast<int>(chosen));
  return chosen;
}

bool cpu_has_avx512_bf16() {
  static const bool detected = probe_avx512_bf16();
  return detected && active_cpu_path() == CpuPath::Avx512;
}

const char* cpu_path_name(CpuPath p) {
  switch (p) {
    case CpuPath::Avx512: return "avx512";
    case CpuPath::Avx2: return "avx2";
    default: return "scalar";
  }
}

}  // namespace peftjs
