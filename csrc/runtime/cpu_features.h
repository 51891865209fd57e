// CPU feature detection at load time. The kernels ask which path to take; the answer can be forced
// down (never up) with PEFTJS_CPU=avx512|avx2|scalar so every path is testable on one machine.
#pragma once

namespace peftjs {

enum class CpuPath { Scalar = 0, Avx2 = 1, Avx512 = 2 };

// What the hardware and the OS support (cpuid + xgetbv), before any override.
CpuPath detected_cpu_path();
// The path in use: detected, lowered by PEFTJS_CPU if set.
CpuPath active_cpu_path();
// Lowers (never raises) the active path; returns the path now in use.
CpuPath set_cpu_path(CpuPath requested);
const char* cpu_path_name(CpuPath p);
// Whether the CPU has AVX512_BF16 (vdpbf16ps, vcvtne2ps2bf16) and the active path is AVX-512, so that
// lowering the path (PEFTJS_CPU, setCpuPath) turns the bf16 instructions off too.
bool cpu_has_avx512_bf16();

}  // namespace peftjs
