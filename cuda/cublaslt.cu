// cuBLASLt, loaded at run time (see cublaslt.h for why): the library search, one handle and one workspace for
// the process, and the two GEMMs that use them.
//
// Loading (once, on first use; a function-local static, so thread-safe): PEFTJS_CUBLASLT (a full path, or
// off / 0 / none to disable cuBLASLt), then libcublasLt.so.13 and .so.12 by the dynamic loader's search path
// (LD_LIBRARY_PATH, the cache), then the same names in the usual places: the CUDA toolkit, the distribution's
// library directory, conda, and the nvidia-cublas Python wheels (site-packages/nvidia/cublas/lib and
// nvidia/cu13/lib of every python3.X under /usr/lib, /usr/local/lib, ~/.local/lib, $VIRTUAL_ENV/lib,
// $CONDA_PREFIX/lib, and the PYTHONPATH entries). Every attempt that fails is recorded for
// cublaslt_available()'s message. The library is never unloaded.
//
// Row-major peftjs matrices are column-major matrices transposed, so C = op(A) op(B) runs as the column-major
// C^T = op(B)^T op(A)^T: cuBLASLt's A is our B, its B our A, its D (and C) our C seen as n x m with
// leading dimension ldc, and the bias (one value per column of our C) is one per row of D, which is what
// the BIAS epilogue adds. Every descriptor is made per call (host-only, cheap; the algorithm heuristic has its
// own cache inside cuBLASLt); everything runs on detail::stream() with the one 32 MiB workspace, which is
// safe because work on one stream runs in order.
#include <cuda_runtime.h>
#include <dirent.h>
#include <dlfcn.h>
#include <library_types.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "common.cuh"
#include "cublaslt.h"
#include "library_search.h"
#include "../csrc/runtime/dl_library.h"
#include "device_api.h"

namespace peftjs {
namespace cuda {

// The data types as the CUDA runtime's own library_types.h numbers them (the one header of the set that
// nvcc has).
static_assert(lt::CUDA_R_32F == CUDA_R_32F && lt::CUDA_R_16BF == CUDA_R_16BF, "cudaDataType values");

namespace {

constexpr size_t kWorkspaceBytes = size_t{32} << 20;  // what NVIDIA recommends for cuBLASLt on Hopper
constexpr int kMinMajorVersion = 12;                   // the ABI the declarations in cublaslt.h were checked on

std::atomic<bool> g_allow_tf32{false};

// ---- Loading --------------------------------------------------------------------------------------------

struct Library {
  void* so = nullptr;
  std::string path, version;
  lt::CreateFn create = nullptr;
  lt::GetVersionFn get_version = nullptr;
  lt::MatmulDescCreateFn desc_create = nullptr;
  lt::MatmulDescSetAttributeFn desc_set = nullptr;
  lt::MatmulDescDestroyFn desc_destroy = nullptr;
  lt::MatrixLayoutCreateFn layout_create = nullptr;
  lt::MatrixLayoutDestroyFn layout_destroy = nullptr;
  lt::MatmulPreferenceCreateFn pref_create = nullptr;
  lt::MatmulPreferenceSetAttributeFn pref_set = nullptr;
  lt::MatmulPreferenceDestroyFn pref_destroy = nullptr;
  lt::MatmulAlgoGetHeuristicFn heuristic = nullptr;
  lt::MatmulFn matmul = nullptr;
};

struct State {
  bool ok = false;
  std::string why_not;
  Library lib;
  lt::Handle handle = nullptr;
  void* workspace = nullptr;
  size_t workspace_bytes = 0;
};

std::string version_string(size_t v) {  // CUBLASLT_VERSION: major * 10000 + minor * 100 + patch
  return std::to_string(v / 10000) + "." + std::to_string((v / 100) % 100) + "." + std::to_string(v % 100);
}

// dlopen()s `name` (a file name for the loader's search, or a path) and resolves the entry points. On
// failure appends "<name>: <reason>" to *tried and leaves *lib empty.
bool try_open(const std::string& name, Library* lib, std::string* tried) {
  auto failed = [&](const std::string& why) { return dl::note_failure(name, why, tried); };
  void* so = dl::open(name, RTLD_NOW | RTLD_LOCAL, tried);
  if (so == nullptr) return false;
  Library l;
  l.so = so;
  std::string missing;
  bool all = true;
  all &= dl::resolve(so, "cublasLtCreate", &l.create, &missing);
  all &= dl::resolve(so, "cublasLtGetVersion", &l.get_version, &missing);
  all &= dl::resolve(so, "cublasLtMatmulDescCreate", &l.desc_create, &missing);
  all &= dl::resolve(so, "cublasLtMatmulDescSetAttribute", &l.desc_set, &missing);
  all &= dl::resolve(so, "cublasLtMatmulDescDestroy", &l.desc_destroy, &missing);
  all &= dl::resolve(so, "cublasLtMatrixLayoutCreate", &l.layout_create, &missing);
  all &= dl::resolve(so, "cublasLtMatrixLayoutDestroy", &l.layout_destroy, &missing);
  all &= dl::resolve(so, "cublasLtMatmulPreferenceCreate", &l.pref_create, &missing);
  all &= dl::resolve(so, "cublasLtMatmulPreferenceSetAttribute", &l.pref_set, &missing);
  all &= dl::resolve(so, "cublasLtMatmulPreferenceDestroy", &l.pref_destroy, &missing);
  all &= dl::resolve(so, "cublasLtMatmulAlgoGetHeuristic", &l.heuristic, &missing);
  all &= dl::resolve(so, "cublasLtMatmul", &l.matmul, &missing);
  if (!all) {
    dlclose(so);
    return failed("not a usable cuBLASLt (missing " + missing + ")");
  }
  const size_t v = l.get_version();
  if (v / 10000 < static_cast<size_t>(kMinMajorVersion)) {
    dlclose(so);
    return failed("cuBLASLt " + version_string(v) + " is older than " + std::to_string(kMinMajorVersion) + ".0");
  }
  l.version = version_string(v);
  l.path = dl::mapped_path(reinterpret_cast<void*>(l.create), name);
  *lib = l;
  return true;
}

// Finds and opens the library; false with *why_not saying what was tried.
bool load(Library* lib, std::string* why_not) {
  std::string tried;
  // The nvidia-cublas wheels: nvidia-cublas-cu12's tree, and the CUDA 13 wheels' shared one.
  const std::vector<std::string> dirs = library_search::search_dirs({"nvidia/cublas/lib", "nvidia/cu13/lib"});
  const auto try_one = [&](const std::string& name, std::string* t) { return try_open(name, lib, t); };
  switch (library_search::open_first("PEFTJS_CUBLASLT", {"libcublasLt.so.13", "libcublasLt.so.12"}, dirs, try_one, &tried)) {
    case library_search::Search::found: return true;
    case library_search::Search::disabled:
      *why_not = "cuBLASLt is disabled by PEFTJS_CUBLASLT=" + library_search::env("PEFTJS_CUBLASLT") +
                 "; the GEMMs run on peftjs's own CUDA kernels";
      return false;
    case library_search::Search::not_found: break;
  }
  *why_not = "libcublasLt was not found (" + tried + "; nor in " + library_search::joined(dirs) +
             "). Install cuBLAS (the CUDA toolkit's libcublas, or `pip install nvidia-cublas`) or set PEFTJS_CUBLASLT to "
             "the full path of libcublasLt.so.13 or .so.12; until then the GEMMs run on peftjs's own CUDA kernels";
  return false;
}

const char* status_name(lt::Status s) {
  switch (s) {
    case lt::CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case lt::CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case lt::CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case lt::CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case lt::CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case lt::CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case lt::CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case lt::CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case lt::CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    case lt::CUBLAS_STATUS_LICENSE_ERROR: return "CUBLAS_STATUS_LICENSE_ERROR";
  }
  return "unknown cuBLAS status";
}

std::string status_text(lt::Status s) { return std::string(status_name(s)) + " (" + std::to_string(s) + ")"; }

State make_state() {
  State s;
  if (!load(&s.lib, &s.why_not)) return s;
  // The workspace first: the allocation also brings up this runtime's context on the device, which the
  // handle then shares. Without it cuBLASLt still runs, with the algorithms that need no workspace.
  std::string alloc_error;
  s.workspace = alloc_async(kWorkspaceBytes, &alloc_error);
  s.workspace_bytes = s.workspace != nullptr ? kWorkspaceBytes : 0;
  const lt::Status st = s.lib.create(&s.handle);
  if (st != lt::CUBLAS_STATUS_SUCCESS) {
    s.why_not = "cublasLtCreate (" + s.lib.path + ", cuBLASLt " + s.lib.version + ") failed: " + status_text(st) +
                (s.workspace == nullptr ? "; the workspace allocation failed too: " + alloc_error : std::string());
    if (s.workspace != nullptr) free_async(s.workspace, nullptr);
    s.workspace = nullptr;
    s.workspace_bytes = 0;
    s.handle = nullptr;
    return s;
  }
  s.ok = true;
  return s;
}

const State& state() {
  static const State s = make_state();  // thread-safe one-time initialisation
  return s;
}

// ---- One matmul -----------------------------------------------------------------------------------------

// One column-major operand as cuBLASLt sees it.
struct Operand {
  int32_t type;     // cudaDataType
  size_t elem;      // bytes per element
  const void* ptr;  // device memory
  uint64_t rows, cols;
  int64_t ld;
  int32_t op;  // CUBLAS_OP_N or CUBLAS_OP_T
};

// The largest power of two (at most 256) that divides the address and the leading dimension in bytes: what
// the algorithms may assume (cuBLASLt's own default preference is 256, which views at float offsets break).
uint32_t alignment_of(const void* ptr, int64_t ld, size_t elem) {
  const uint64_t v = static_cast<uint64_t>(reinterpret_cast<uintptr_t>(ptr)) | (static_cast<uint64_t>(ld) * elem) | 256u;
  return static_cast<uint32_t>(v & (~v + 1));  // lowest set bit
}

bool fits_int32(int64_t v) { return v >= 0 && v <= std::numeric_limits<int32_t>::max(); }

// The BIAS epilogue reads the bias vector with wide loads: a bias that is not 16-byte aligned (a view at an
// odd float offset) has been seen to fault with a misaligned address (a sticky error that ends the context)
// rather than be refused, and no preference attribute covers it. Such a GEMM is left to the own kernels.
bool bias_ok(const float* bias) { return bias == nullptr || reinterpret_cast<uintptr_t>(bias) % 16 == 0; }

// The descriptors of one call, destroyed when it ends whatever happens.
struct Descriptors {
  const Library& lib;
  lt::MatmulDesc desc = nullptr;
  lt::MatrixLayout a = nullptr, b = nullptr, c = nullptr;
  lt::MatmulPreference pref = nullptr;
  explicit Descriptors(const Library& l) : lib(l) {}
  ~Descriptors() {
    if (pref) lib.pref_destroy(pref);
    if (c) lib.layout_destroy(c);
    if (b) lib.layout_destroy(b);
    if (a) lib.layout_destroy(a);
    if (desc) lib.desc_destroy(desc);
  }
  Descriptors(const Descriptors&) = delete;
  Descriptors& operator=(const Descriptors&) = delete;
};

// What a planned matmul needs: the descriptors and the algorithm the heuristic chose.
struct Plan {
  explicit Plan(const Library& l) : d(l) {}
  Descriptors d;
  lt::MatmulHeuristicResult algo{};
};

// Builds the descriptors for D[rows_d x cols_d] (float32, leading dimension ldc, also C) = alpha op(a) op(b)
// + beta C (+ bias per row of D, then the epilogue) and asks the heuristic for an algorithm. False when
// cuBLASLt cannot take it (a descriptor refused, or no algorithm): nothing was launched, the caller falls
// back. `why` gets the reason (for debugging; the fallback itself is silent).
bool plan_matmul(const State& s, int32_t compute, const Operand& a, const Operand& b, const float* c, uint64_t rows_d,
                 uint64_t cols_d, int64_t ldc, const float* bias, uint32_t epilogue, Plan* plan, std::string* why) {
  const Library& lib = s.lib;
  Descriptors& d = plan->d;
  auto check = [why](lt::Status st, const char* what) {
    if (st == lt::CUBLAS_STATUS_SUCCESS) return true;
    *why = std::string(what) + " failed: " + status_text(st);
    return false;
  };
  if (!check(lib.desc_create(&d.desc, compute, lt::CUDA_R_32F), "cublasLtMatmulDescCreate") ||
      !check(lib.desc_set(d.desc, lt::CUBLASLT_MATMUL_DESC_TRANSA, &a.op, sizeof(a.op)), "set TRANSA") ||
      !check(lib.desc_set(d.desc, lt::CUBLASLT_MATMUL_DESC_TRANSB, &b.op, sizeof(b.op)), "set TRANSB") ||
      !check(lib.desc_set(d.desc, lt::CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue, sizeof(epilogue)), "set EPILOGUE"))
    return false;
  if (bias != nullptr) {
    const void* bias_ptr = bias;
    if (!check(lib.desc_set(d.desc, lt::CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias_ptr, sizeof(bias_ptr)),
               "set BIAS_POINTER"))
      return false;
  }
  if (!check(lib.layout_create(&d.a, a.type, a.rows, a.cols, a.ld), "cublasLtMatrixLayoutCreate (A)") ||
      !check(lib.layout_create(&d.b, b.type, b.rows, b.cols, b.ld), "cublasLtMatrixLayoutCreate (B)") ||
      !check(lib.layout_create(&d.c, lt::CUDA_R_32F, rows_d, cols_d, ldc), "cublasLtMatrixLayoutCreate (C)"))
    return false;
  const uint64_t max_workspace = s.workspace_bytes;
  const uint32_t align_a = alignment_of(a.ptr, a.ld, a.elem), align_b = alignment_of(b.ptr, b.ld, b.elem);
  const uint32_t align_c = alignment_of(c, ldc, sizeof(float));
  if (!check(lib.pref_create(&d.pref), "cublasLtMatmulPreferenceCreate") ||
      !check(lib.pref_set(d.pref, lt::CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &max_workspace, sizeof(max_workspace)),
             "set MAX_WORKSPACE_BYTES") ||
      !check(lib.pref_set(d.pref, lt::CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &align_a, sizeof(align_a)),
             "set MIN_ALIGNMENT_A_BYTES") ||
      !check(lib.pref_set(d.pref, lt::CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &align_b, sizeof(align_b)),
             "set MIN_ALIGNMENT_B_BYTES") ||
      !check(lib.pref_set(d.pref, lt::CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &align_c, sizeof(align_c)),
             "set MIN_ALIGNMENT_C_BYTES") ||
      !check(lib.pref_set(d.pref, lt::CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &align_c, sizeof(align_c)),
             "set MIN_ALIGNMENT_D_BYTES"))
    return false;
  int returned = 0;
  if (!check(lib.heuristic(s.handle, d.desc, d.a, d.b, d.c, d.c, d.pref, 1, &plan->algo, &returned),
             "cublasLtMatmulAlgoGetHeuristic"))
    return false;
  if (returned < 1 || plan->algo.state != lt::CUBLAS_STATUS_SUCCESS || plan->algo.workspaceSize > s.workspace_bytes) {
    *why = "cublasLtMatmulAlgoGetHeuristic found no algorithm";
    return false;
  }
  return true;
}

// Runs a planned matmul on detail::stream(). *handled false: cuBLASLt refused it before launching anything
// (a status that only argument checks return), so the caller may still fall back.
bool run_matmul(const State& s, Plan* plan, float alpha, const Operand& a, const Operand& b, float beta, float* c,
                bool* handled, std::string* error) {
  Descriptors& d = plan->d;
  const lt::Status st = s.lib.matmul(s.handle, d.desc, &alpha, a.ptr, d.a, b.ptr, d.b, &beta, c, d.c, c, d.c,
                                     &plan->algo.algo, s.workspace, s.workspace_bytes, detail::stream());
  if (st == lt::CUBLAS_STATUS_SUCCESS) {
    *handled = true;
    return true;
  }
  if (st == lt::CUBLAS_STATUS_NOT_SUPPORTED || st == lt::CUBLAS_STATUS_INVALID_VALUE ||
      st == lt::CUBLAS_STATUS_ARCH_MISMATCH) {
    *handled = false;
    return true;
  }
  *handled = true;
  if (error) *error = std::string("cublasLtMatmul failed: ") + status_text(st);
  return false;
}

// float32 -> bfloat16 bits, nearest even, NaN kept a quiet NaN: f32_to_bf16_bits (gemm_bf16.h) on the device.
__device__ __forceinline__ uint16_t to_bf16_bits(float f) {
  uint32_t u = __float_as_uint(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

// out[i, p] (packed, leading dimension k) = bf16(a[i * lda + p]) for the m x k matrix A.
__global__ void round_to_bf16_kernel(const float* a, int64_t lda, uint16_t* out, int64_t m, int64_t k) {
  const int64_t total = m * k;
  for (int64_t idx = detail::first_index(); idx < total; idx += detail::grid_stride()) {
    const int64_t i = idx / k, p = idx - i * k;
    out[idx] = to_bf16_bits(a[i * lda + p]);
  }
}

}  // namespace

// ---- API ------------------------------------------------------------------------------------------------

bool cublaslt_available(std::string* why_not) {
  const State& s = state();
  if (why_not) *why_not = s.ok ? std::string() : s.why_not;
  return s.ok;
}

std::string cublaslt_path() { return state().lib.path; }
std::string cublaslt_version() { return state().lib.version; }

void set_allow_tf32(bool allow) { g_allow_tf32.store(allow, std::memory_order_relaxed); }
bool allow_tf32() { return g_allow_tf32.load(std::memory_order_relaxed); }

bool cublaslt_gemm_f32(const GemmArgs& g, bool* handled, std::string* error) {
  *handled = false;
  // Fields this path does not implement: the caller's own kernel (or its refusal) decides.
  if (g.k2 != 0 || g.a2 != nullptr || g.b2 != nullptr || g.col_scale != nullptr || g.pre_out != nullptr) return true;
  if (g.act != Activation::None && g.act != Activation::GeluTanh) return true;
  if (!fits_int32(g.m) || !fits_int32(g.n) || !fits_int32(g.k) || !bias_ok(g.bias)) return true;
  if (g.m == 0 || g.n == 0) {
    *handled = true;  // nothing to compute
    return true;
  }
  if (g.k == 0 || g.alpha == 0.0f) return true;  // no product: C = beta C + bias, exactly as the CPU's scale_c
  if (!cublaslt_available(nullptr)) return true;
  const State& s = state();

  // cuBLASLt's A is our B: B [k, n] (ldb) is column-major n x k, used as is; a stored B [n, k] is k x n,
  // transposed. Its B is our A likewise, and D is C^T: n x m with leading dimension ldc.
  const Operand a_lt = g.trans_b ? Operand{lt::CUDA_R_32F, 4, g.b, static_cast<uint64_t>(g.k), static_cast<uint64_t>(g.n),
                                           g.ldb, lt::CUBLAS_OP_T}
                                 : Operand{lt::CUDA_R_32F, 4, g.b, static_cast<uint64_t>(g.n), static_cast<uint64_t>(g.k),
                                           g.ldb, lt::CUBLAS_OP_N};
  const Operand b_lt = g.trans_a ? Operand{lt::CUDA_R_32F, 4, g.a, static_cast<uint64_t>(g.m), static_cast<uint64_t>(g.k),
                                           g.lda, lt::CUBLAS_OP_T}
                                 : Operand{lt::CUDA_R_32F, 4, g.a, static_cast<uint64_t>(g.k), static_cast<uint64_t>(g.m),
                                           g.lda, lt::CUBLAS_OP_N};
  // Column-major leading dimensions must cover a column (cuBLASLt refuses less).
  if (a_lt.ld < static_cast<int64_t>(a_lt.rows) || b_lt.ld < static_cast<int64_t>(b_lt.rows) || g.ldc < g.n) return true;

  const bool gelu = g.act == Activation::GeluTanh;
  const uint32_t epilogue = g.bias != nullptr ? (gelu ? lt::CUBLASLT_EPILOGUE_GELU_BIAS : lt::CUBLASLT_EPILOGUE_BIAS)
                                              : (gelu ? lt::CUBLASLT_EPILOGUE_GELU : lt::CUBLASLT_EPILOGUE_DEFAULT);
  const int32_t compute = allow_tf32() ? lt::CUBLAS_COMPUTE_32F_FAST_TF32 : lt::CUBLAS_COMPUTE_32F;
  Plan plan(s.lib);
  std::string why;
  if (!plan_matmul(s, compute, a_lt, b_lt, g.c, static_cast<uint64_t>(g.n), static_cast<uint64_t>(g.m), g.ldc, g.bias,
                   epilogue, &plan, &why))
    return true;
  // beta == 0: cuBLAS(Lt) does not read C (BLAS semantics; PyTorch's addmm relies on it with beta = 0 and an
  // uninitialised or NaN-filled output), so C stays write-only as the CPU gemm defines it.
  return run_matmul(s, &plan, g.alpha, a_lt, b_lt, g.beta, g.c, handled, error);
}

bool cublaslt_gemm_bf16(const GemmBf16Args& g, const uint16_t* a_bf16, int64_t lda_bf16, bool* handled,
                        std::string* error) {
  *handled = false;
  if (g.b_bits == nullptr || g.b != nullptr || g.b_quant != nullptr) return true;
  // bf16 operands must sit on 2-byte boundaries (a Uint8Array view may put the weight at an odd address).
  if ((reinterpret_cast<uintptr_t>(g.b_bits) & 1u) != 0) return true;
  if (a_bf16 != nullptr && ((reinterpret_cast<uintptr_t>(a_bf16) & 1u) != 0 || lda_bf16 < g.k)) return true;
  if (a_bf16 == nullptr && g.a == nullptr) return true;
  if (!fits_int32(g.m) || !fits_int32(g.n) || !fits_int32(g.k) || !bias_ok(g.bias)) return true;
  if (g.m == 0 || g.n == 0) {
    *handled = true;
    return true;
  }
  if (g.k == 0 || g.alpha == 0.0f) return true;
  if (!cublaslt_available(nullptr)) return true;
  const State& s = state();

  // A rounded to bf16 into a packed [m, k] scratch unless the caller has it already.
  uint16_t* scratch = nullptr;
  const uint16_t* a_bits = a_bf16;
  int64_t lda_bits = lda_bf16;
  if (a_bits == nullptr) {
    scratch = static_cast<uint16_t*>(alloc_async(static_cast<size_t>(g.m * g.k) * sizeof(uint16_t), error));
    if (scratch == nullptr) {
      *handled = true;
      return false;
    }
    a_bits = scratch;
    lda_bits = g.k;
  }
  // Frees the scratch after whatever was queued on the stream reads it; reports the first error.
  auto finish = [&](bool ok) {
    const bool freed = free_async(scratch, ok ? error : nullptr);
    if (ok && !freed) *handled = true;  // an error to report, not a fallback
    return ok && freed;
  };

  const Operand a_lt = g.trans_b ? Operand{lt::CUDA_R_16BF, 2, g.b_bits, static_cast<uint64_t>(g.k),
                                           static_cast<uint64_t>(g.n), g.ldb, lt::CUBLAS_OP_T}
                                 : Operand{lt::CUDA_R_16BF, 2, g.b_bits, static_cast<uint64_t>(g.n),
                                           static_cast<uint64_t>(g.k), g.ldb, lt::CUBLAS_OP_N};
  const Operand b_lt{lt::CUDA_R_16BF, 2, a_bits, static_cast<uint64_t>(g.k), static_cast<uint64_t>(g.m), lda_bits,
                     lt::CUBLAS_OP_N};
  if (a_lt.ld < static_cast<int64_t>(a_lt.rows) || g.ldc < g.n) return finish(true);  // not handled
  const uint32_t epilogue = g.bias != nullptr ? lt::CUBLASLT_EPILOGUE_BIAS : lt::CUBLASLT_EPILOGUE_DEFAULT;
  Plan plan(s.lib);
  std::string why;
  if (!plan_matmul(s, lt::CUBLAS_COMPUTE_32F, a_lt, b_lt, g.c, static_cast<uint64_t>(g.n), static_cast<uint64_t>(g.m),
                   g.ldc, g.bias, epilogue, &plan, &why))
    return finish(true);  // not handled; nothing was launched but the (free) allocation

  if (scratch != nullptr) {
    round_to_bf16_kernel<<<detail::grid_for(g.m * g.k), detail::kThreads, 0, detail::stream()>>>(g.a, g.lda, scratch,
                                                                                                  g.m, g.k);
    if (!detail::launched("cublaslt_gemm_bf16 (rounding A to bf16)", error)) {
      *handled = true;
      return finish(false);
    }
  }
  // If cuBLASLt refuses at launch (*handled false), the rounding was wasted but harmless: the caller's own
  // kernel computes everything from g.a.
  const bool ok = run_matmul(s, &plan, g.alpha, a_lt, b_lt, g.beta, g.c, handled, error);
  return finish(ok);
}

}  // namespace cuda
}  // namespace peftjs
