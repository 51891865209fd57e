#include "probe.h"

#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <vector>

#include "allocator.h"
#include "cpu_features.h"
#include "thread_pool.h"

namespace peftjs {
namespace {

using Clock = std::chrono::steady_clock;

// Twelve independent FMA chains: enough to cover the FMA latency on two ports.
__attribute__((target("avx2,fma"))) double fma_loop_avx2(int64_t iters) {
  __m256 acc[12];
  for (auto& a : acc) a = _mm256_set1_ps(1.0f);
  const __m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
  for (int64_t i = 0; i < iters; ++i) {
#pragma GCC unroll 12
    for (int j = 0; j < 12; ++j) acc[j] = _mm256_fmadd_ps(acc[j], m, c);
  }
  __m256 s = acc[0];
  for (int j = 1; j < 12; ++j) s = _mm256_add_ps(s, acc[j]);
  float out[8];
  _mm256_storeu_ps(out, s);
  return static_cast<double>(iters) * 12 * 8 * 2 + out[0] * 0.0;
}

__attribute__((target("avx512f"))) double fma_loop_avx512(int64_t iters) {
  __m512 acc[16];
  for (auto& a : acc) a = _mm512_set1_ps(1.0f);
  const __m512 m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
  for (int64_t i = 0; i < iters; ++i) {
#pragma GCC unroll 16
    for (int j = 0; j < 16; ++j) acc[j] = _mm512_fmadd_ps(acc[j], m, c);
  }
  __m512 s = acc[0];
  for (int j = 1; j < 16; ++j) s = _mm512_add_ps(s, acc[j]);
  alignas(64) float out[16];
  _mm512_store_ps(out, s);
  return static_cast<double>(iters) * 16 * 16 * 2 + out[0] * 0.0;
}

double fma_loop_scalar(int64_t iters) {
  float acc[16];
  for (auto& a : acc) a = 1.0f;
  for (int64_t i = 0; i < iters; ++i)
    for (float& a : acc) a = a * 0.999999f + 1e-7f;
  double s = 0;
  for (float a : acc) s += a;
  return static_cast<double>(iters) * 16 * 2 + s * 0.0;
}

double fma_flops(int64_t iters) {
  switch (active_cpu_path()) {
    case CpuPath::Avx512: return fma_loop_avx512(iters);
    case CpuPath::Avx2: return fma_loop_avx2(iters);
    default: return fma_loop_scalar(iters);
  }
}

}  // namespace

double probe_fma_peak_gflops(double seconds) {
  // Calibrate one thread's iteration count to ~seconds, then run it on every thread at once.
  int64_t iters = 1 << 16;
  for (;;) {
    const auto t0 = Clock::now();
    fma_flops(iters);
    const double dt = std::chrono::duration<double>(Clock::now() - t0).count();
    if (dt > seconds / 4 || iters > (int64_t{1} << 40)) {
      iters = static_cast<int64_t>(iters * seconds / std::max(dt, 1e-6));
      break;
    }
    iters *= 4;
  }
  const int threads = num_threads();
  std::vector<double> flops(threads, 0.0);
  const auto t0 = Clock::now();
  parallel_tasks(threads, [&](int64_t t) { flops[t] = fma_flops(iters); });
  const double dt = std::chrono::duration<double>(Clock::now() - t0).count();
  double total = 0;
  for (double f : flops) total += f;
  return total / dt / 1e9;
}

double probe_memory_bandwidth_gbps(double seconds) {
  const size_t floats = size_t{64} << 20;  // 256 MiB per buffer
  float* src = static_cast<float*>(host_alloc(floats * sizeof(float)));
  float* dst = static_cast<float*>(host_alloc(floats * sizeof(float)));
  if (src == nullptr || dst == nullptr) {
    host_free(src, floats * sizeof(float));
    host_free(dst, floats * sizeof(float));
    return 0.0;
  }
  auto pass = [&] {
    parallel_for(static_cast<int64_t>(floats), 1 << 20, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) dst[i] = src[i] * 1.0001f;
    });
  };
  parallel_for(static_cast<int64_t>(floats), 1 << 20, [&](int64_t b, int64_t e) {
    std::memset(src + b, 0, (e - b) * sizeof(float));
    std::memset(dst + b, 0, (e - b) * sizeof(float));
  });
  pass();
  double best = 0;
  const auto start = Clock::now();
  do {
    const auto t0 = Clock::now();
    pass();
    const double dt = std::chrono::duration<double>(Clock::now() - t0).count();
    best = std::max(best, 2.0 * floats * sizeof(float) / dt / 1e9);
  } while (std::chrono::duration<double>(Clock::now() - start).count() < seconds);
  host_free(src, floats * sizeof(float));
  host_free(dst, floats * sizeof(float));
  return best;
}

}  // namespace peftjs
