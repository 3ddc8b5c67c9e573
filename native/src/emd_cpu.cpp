// tasft_emd_cpu: argument checks, ignored rows, and the choice of the kernel's instruction set.
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>
#include <vector>
#include <omp.h>

#include "emd_internal.h"

namespace tasft {
namespace generic { int run(const tasft_emd_args*, const int64_t*, int64_t, int); }
#if defined(__x86_64__)
namespace avx2 { int run(const tasft_emd_args*, const int64_t*, int64_t, int); }
namespace avx512 { int run(const tasft_emd_args*, const int64_t*, int64_t, int); }
#endif

namespace {
std::atomic<int> g_threads{0};

using KernelFn = int (*)(const tasft_emd_args*, const int64_t*, int64_t, int);

// The widest instruction set this CPU has; TASFT_CPU_ISA=generic|avx2|avx512 forces one (tests use it to cover all).
KernelFn pick_kernel(const char** name) {
    const char* force = std::getenv("TASFT_CPU_ISA");
#if defined(__x86_64__)
    __builtin_cpu_init();
    const bool has512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
                        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq");
    const bool has2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
    if (force && std::strcmp(force, "generic") == 0) { *name = "generic"; return generic::run; }
    if (force && std::strcmp(force, "avx2") == 0 && has2) { *name = "avx2"; return avx2::run; }
    if (has512 && !(force && std::strcmp(force, "avx2") == 0)) { *name = "avx512"; return avx512::run; }
    if (has2) { *name = "avx2"; return avx2::run; }
#else
    (void)force;
#endif
    *name = "generic";
    return generic::run;
}

int threads_to_use() {
    int t = g_threads.load();
    return t > 0 ? t : omp_get_max_threads();
}

// Ignored rows: loss 0, gradient 0 over the first vocab columns, expected embedding 0.
void zero_row(const tasft_emd_args* a, int64_t n) {
    a->loss_rows[n] = 0.0f;
    if (a->grad_logits) {
        char* g = static_cast<char*>(a->grad_logits) + (size_t)(n * a->logits_row_stride * dtype_size(a->logits_dtype));
        std::memset(g, 0, (size_t)(a->vocab * dtype_size(a->logits_dtype)));
    }
    if (a->expected_embedding) std::memset(a->expected_embedding + n * a->dim, 0, (size_t)a->dim * 4);
}
}  // namespace
}  // namespace tasft

extern "C" int tasft_emd_cpu(const tasft_emd_args* a) {
    using namespace tasft;
    clear_error();
    const char* fn = "tasft_emd_cpu";
    if (int st = check_shapes(a, fn)) return st;
    if (a->rows == 0) return TASFT_OK;
    if (int st = check_targets(a->targets, a->rows, a->vocab, a->ignore_index, fn)) return st;
    std::vector<int64_t> active;
    try {
        active.reserve((size_t)a->rows);
    } catch (const std::bad_alloc&) {
        return fail(TASFT_OUT_OF_MEMORY, "%s: cannot allocate the row list", fn);
    }
    for (int64_t n = 0; n < a->rows; ++n) {
        if (a->targets[n] == a->ignore_index) zero_row(a, n);
        else active.push_back(n);
    }
    const char* isa = nullptr;
    KernelFn kernel = pick_kernel(&isa);
    int st = kernel(a, active.data(), (int64_t)active.size(), threads_to_use());
    if (st == TASFT_OUT_OF_MEMORY) return fail(st, "%s: cannot allocate the per-thread workspace", fn);
    return st;
}

extern "C" void tasft_cpu_set_num_threads(int n) { tasft::g_threads.store(n > 0 ? n : 0); }
extern "C" int tasft_cpu_get_num_threads(void) { return tasft::threads_to_use(); }

extern "C" const char* tasft_cpu_isa(void) {
    const char* name = nullptr;
    tasft::pick_kernel(&name);
    return name;
}

extern "C" int tasft_normalize_rows_cpu(const void* in, void* out, int dtype, int64_t rows, int64_t dim) {
    using namespace tasft;
    clear_error();
    const char* fn = "tasft_normalize_rows_cpu";
    if (!valid_dtype(dtype)) return fail(TASFT_INVALID_ARGUMENT, "%s: dtype %d is not a tasft_dtype", fn, dtype);
    if (rows < 0) return fail(TASFT_INVALID_ARGUMENT, "%s: rows must be >= 0", fn);
    if (dim <= 0) return fail(TASFT_INVALID_ARGUMENT, "%s: dim must be > 0", fn);
    if (rows == 0) return TASFT_OK;
    if (!in) return fail(TASFT_INVALID_ARGUMENT, "%s: in is NULL", fn);
    if (!out) return fail(TASFT_INVALID_ARGUMENT, "%s: out is NULL", fn);
    auto get = [&](int64_t i) -> double {
        if (dtype == TASFT_FLOAT32) return static_cast<const float*>(in)[i];
        uint16_t h = static_cast<const uint16_t*>(in)[i];
        return dtype == TASFT_BFLOAT16 ? bf16_to_float(h) : fp16_to_float(h);
    };
    auto put = [&](int64_t i, double x) {
        if (dtype == TASFT_FLOAT32) static_cast<float*>(out)[i] = (float)x;
        else static_cast<uint16_t*>(out)[i] = dtype == TASFT_BFLOAT16 ? float_to_bf16((float)x) : float_to_fp16((float)x);
    };
#pragma omp parallel for schedule(static) num_threads(threads_to_use()) if (rows * dim > 65536)
    for (int64_t v = 0; v < rows; ++v) {
        double s = 0;
        for (int64_t d = 0; d < dim; ++d) s += get(v * dim + d) * get(v * dim + d);
        const double inv = 1.0 / std::fmax(std::sqrt(s), 1e-12);
        for (int64_t d = 0; d < dim; ++d) put(v * dim + d, get(v * dim + d) * inv);
    }
    return TASFT_OK;
}

extern "C" const char* tasft_version(void) {
#if defined(TASFT_WITH_CUDA)
    return TASFT_VERSION_STRING " (cuda " TASFT_CUDA_ARCHS ")";
#else
    return TASFT_VERSION_STRING " (cpu only)";
#endif
}
