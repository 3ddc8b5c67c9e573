// tasft_emd_cpu and the vocabulary-parallel CPU entry points: argument checks, ignored rows, the host-side merge,
// and the choice of the kernel's instruction set.
#include <algorithm>
#include <atomic>
#include <cinttypes>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>
#include <vector>
#include <omp.h>

#include "emd_cpu_job.h"
#include "emd_internal.h"
#include "emd_isa.h"

namespace tasft {
namespace generic { int run(const CpuJob&, const int64_t*, int64_t, int); }
#if defined(__x86_64__)
namespace avx2 { int run(const CpuJob&, const int64_t*, int64_t, int); }
namespace avx512 { int run(const CpuJob&, const int64_t*, int64_t, int); }
#endif

namespace {
std::atomic<int> g_threads{0};
CpuFeatures cpu_features();
}  // namespace

int cpu_threads() {
    int t = g_threads.load();
    return t > 0 ? t : omp_get_max_threads();
}

int pick_cpu_isa(const tasft_emd_variant* v, const char* fn, int* isa) {
    if (int st = check_variant(v, fn)) return st;
    *isa = TASFT_CPU_ISA_GENERIC;
    char why[160];
    const int st = resolve_cpu_isa(v ? v->cpu_isa : TASFT_CPU_ISA_DEFAULT, cpu_features(), std::getenv("TASFT_CPU_ISA"),
                                   isa, why, sizeof why);
    if (st != TASFT_OK) return fail(st, "%s: %s", fn, why);
    return TASFT_OK;
}

namespace {

using KernelFn = int (*)(const CpuJob&, const int64_t*, int64_t, int);

CpuFeatures cpu_features() {
    CpuFeatures f;
#if defined(__x86_64__)
    __builtin_cpu_init();
    f.avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
               __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq");
    f.avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
#endif
    return f;
}

KernelFn kernel_for(int isa) {
#if defined(__x86_64__)
    if (isa == TASFT_CPU_ISA_AVX512) return avx512::run;
    if (isa == TASFT_CPU_ISA_AVX2) return avx2::run;
#endif
    return generic::run;  // resolve_cpu_isa gives AVX2 / AVX512 only where the CPU (so an x86-64 build) has them
}

// The kernel for the variant (NULL: the default; TASFT_CPU_ISA only narrows the default, see emd_isa.h).
int pick_kernel(const tasft_emd_variant* v, const char* fn, KernelFn* kernel) {
    int isa = TASFT_CPU_ISA_GENERIC;
    if (int st = pick_cpu_isa(v, fn, &isa)) return st;
    *kernel = kernel_for(isa);
    return TASFT_OK;
}

int threads_to_use() { return cpu_threads(); }

// Ignored rows: loss 0, gradient 0 over the first vocab columns, expected embedding 0.
void zero_row(const tasft_emd_args* a, int64_t n) {
    if (a->loss_rows) a->loss_rows[n] = 0.0f;
    if (a->grad_logits) {
        char* g = static_cast<char*>(a->grad_logits) + (size_t)(n * a->logits_row_stride * dtype_size(a->logits_dtype));
        std::memset(g, 0, (size_t)(a->vocab * dtype_size(a->logits_dtype)));
    }
    if (a->expected_embedding) std::memset(a->expected_embedding + n * a->dim, 0, (size_t)a->dim * 4);
}
// The rows whose target is not ignore_index; the others go to `ignored(n)`.
template <class F>
int split_rows(const tasft_emd_args* a, std::vector<int64_t>& active, const char* fn, F ignored) {
    try {
        active.reserve((size_t)a->rows);
    } catch (const std::bad_alloc&) {
        return fail(TASFT_OUT_OF_MEMORY, "%s: cannot allocate the row list", fn);
    }
    for (int64_t n = 0; n < a->rows; ++n) {
        if (a->targets[n] == a->ignore_index) ignored(n);
        else active.push_back(n);
    }
    return TASFT_OK;
}

int run_job(KernelFn kernel, const CpuJob& job, const std::vector<int64_t>& active, const char* fn) {
    int st = kernel(job, active.data(), (int64_t)active.size(), threads_to_use());
    if (st == TASFT_OUT_OF_MEMORY) return fail(st, "%s: cannot allocate the per-thread workspace", fn);
    return st;
}
}  // namespace
}  // namespace tasft

namespace tasft {
namespace {
// tasft_emd_cpu, _skip and _variant: the fused job, with the skipping mode when skip->threshold > 0.
int emd_cpu(const tasft_emd_args* a, const tasft_emd_skip* skip, const tasft_emd_variant* variant, const char* fn) {
    clear_error();
    if (int st = check_shapes(a, fn)) return st;
    if (int st = check_skip(skip, fn)) return st;
    KernelFn kernel;
    if (int st = pick_kernel(variant, fn, &kernel)) return st;  // before anything is written
    if (a->rows == 0) return TASFT_OK;
    if (int st = check_targets(a->targets, a->rows, a->vocab, a->ignore_index, fn)) return st;
    CpuJob job{};
    job.args = a;
    job.mode = CpuMode::Fused;
    if (skip) {
        job.skip.threshold = skip->threshold;
        job.skip.loss_error_bound = skip->loss_error_bound;
        job.skip.skipped_mass = skip->skipped_mass;
    }
    const SkipOut& sk = job.skip;
    std::vector<int64_t> active;
    if (int st = split_rows(a, active, fn, [&](int64_t n) {
            zero_row(a, n);
            if (sk.loss_error_bound) sk.loss_error_bound[n] = 0.0f;
            if (sk.skipped_mass) sk.skipped_mass[n] = 0.0f;
        }))
        return st;
    // Threshold 0 is the exact kernel itself (same code, same bits); the outputs of the skipping mode are then 0.
    if (sk.threshold == 0.0f)
        for (int64_t n : active) {
            if (sk.loss_error_bound) sk.loss_error_bound[n] = 0.0f;
            if (sk.skipped_mass) sk.skipped_mass[n] = 0.0f;
        }
    return run_job(kernel, job, active, fn);
}
}  // namespace
}  // namespace tasft

extern "C" int tasft_emd_cpu(const tasft_emd_args* a) { return tasft::emd_cpu(a, nullptr, nullptr, "tasft_emd_cpu"); }

extern "C" int tasft_emd_cpu_skip(const tasft_emd_args* a, const tasft_emd_skip* skip) {
    return tasft::emd_cpu(a, skip, nullptr, "tasft_emd_cpu_skip");
}

extern "C" int tasft_emd_cpu_variant(const tasft_emd_args* a, const tasft_emd_skip* skip,
                                     const tasft_emd_variant* variant) {
    return tasft::emd_cpu(a, skip, variant, "tasft_emd_cpu_variant");
}

// ---- vocabulary-parallel form ----

namespace tasft {
namespace {
// tasft_emd_vp_partial_cpu (backward false) and tasft_emd_vp_backward_cpu, with or without a variant.
int vp_slice_cpu(const tasft_emd_vp_slice_args* s, bool backward, const tasft_emd_variant* variant, const char* fn) {
    clear_error();
    tasft_emd_args view;
    if (int st = check_slice(s, backward, fn, &view)) return st;
    KernelFn kernel;
    if (int st = pick_kernel(variant, fn, &kernel)) return st;
    if (s->rows == 0) return TASFT_OK;
    if (int st = check_targets(s->targets, s->rows, s->vocab_total, s->ignore_index, fn)) return st;
    const int64_t width = TASFT_EMD_VP_STATS(s->dim);
    std::vector<int64_t> active;
    // Ignored rows: gradient 0 in the backward; m = 0 and statistics 0 in the partial.
    int st = split_rows(&view, active, fn, [&](int64_t n) {
        if (backward) {
            zero_row(&view, n);
        } else {
            s->slice_max[n] = 0.0f;
            std::memset(s->slice_stats + n * width, 0, (size_t)width * 4);
        }
    });
    if (st) return st;
    CpuJob job{};  // each mode reads only its own fields (the others of the slice may be anything)
    job.args = &view;
    job.mode = backward ? CpuMode::Backward : CpuMode::Partial;
    job.vocab_start = s->vocab_start;
    job.slice_max = s->slice_max;
    job.slice_stats = s->slice_stats;
    job.row_max = s->row_max;
    job.row_log_sumexp = s->row_log_sumexp;
    job.residual = s->residual;
    job.residual_dot_expected = s->residual_dot_expected;
    return run_job(kernel, job, active, fn);
}
}  // namespace
}  // namespace tasft

extern "C" int tasft_emd_vp_partial_cpu(const tasft_emd_vp_slice_args* s) {
    return tasft::vp_slice_cpu(s, false, nullptr, "tasft_emd_vp_partial_cpu");
}
extern "C" int tasft_emd_vp_backward_cpu(const tasft_emd_vp_slice_args* s) {
    return tasft::vp_slice_cpu(s, true, nullptr, "tasft_emd_vp_backward_cpu");
}
extern "C" int tasft_emd_vp_partial_cpu_variant(const tasft_emd_vp_slice_args* s, const tasft_emd_variant* v) {
    return tasft::vp_slice_cpu(s, false, v, "tasft_emd_vp_partial_cpu_variant");
}
extern "C" int tasft_emd_vp_backward_cpu_variant(const tasft_emd_vp_slice_args* s, const tasft_emd_variant* v) {
    return tasft::vp_slice_cpu(s, true, v, "tasft_emd_vp_backward_cpu_variant");
}

// The merge is O(slices * rows * dim), small next to the kernels: plain loops, sums in double, slices in order.
extern "C" int tasft_emd_vp_merge_cpu(const tasft_emd_vp_merge_args* m) {
    using namespace tasft;
    clear_error();
    const char* fn = "tasft_emd_vp_merge_cpu";
    if (int st = check_merge(m, fn)) return st;
    const int64_t K = m->slices, N = m->rows, D = m->dim, W = TASFT_EMD_VP_STATS(D);
    // Every check first, so a rejected call writes nothing.
    for (int64_t n = 0; n < N; ++n) {
        const int64_t y = m->targets[n];
        if (y == m->ignore_index) continue;
        if (y < 0)
            return fail(TASFT_INVALID_ARGUMENT, "%s: targets[%" PRId64 "] = %" PRId64 " is negative and not ignore_index (%" PRId64 ")",
                        fn, n, y, m->ignore_index);
        double count = 0;
        for (int64_t k = 0; k < K; ++k) count += m->slice_stats[(k * N + n) * W + 1];
        if (count != 1.0)
            return fail(TASFT_INVALID_ARGUMENT,
                        "%s: targets[%" PRId64 "] = %" PRId64 " lies in %g of the %" PRId64
                        " slices (the slices must cover the vocabulary without overlap)",
                        fn, n, y, count, K);
    }
    const bool big = N * K * D > 65536;
    int oom = 0;
#pragma omp parallel num_threads(threads_to_use()) if (big)
    {
        std::vector<double> S;
        try {
            S.resize((size_t)D);
        } catch (const std::bad_alloc&) {
#pragma omp atomic write
            oom = 1;
        }
#pragma omp for schedule(static)
        for (int64_t n = 0; n < N; ++n) {
            if (S.empty()) continue;
            float* r = m->residual + n * D;
            float* ee = m->expected_embedding ? m->expected_embedding + n * D : nullptr;
            if (m->targets[n] == m->ignore_index) {
                m->loss_rows[n] = m->row_max[n] = m->row_log_sumexp[n] = m->residual_dot_expected[n] = 0.0f;
                std::memset(r, 0, (size_t)D * 4);
                if (ee) std::memset(ee, 0, (size_t)D * 4);
                continue;
            }
            double M = -INFINITY;
            for (int64_t k = 0; k < K; ++k) M = std::fmax(M, (double)m->slice_max[k * N + n]);
            double L = 0;
            std::fill(S.begin(), S.end(), 0.0);
            for (int64_t d = 0; d < D; ++d) r[d] = 0.0f;  // r collects the target's row first
            for (int64_t k = 0; k < K; ++k) {
                const double mk = m->slice_max[k * N + n];
                const float* st = m->slice_stats + (k * N + n) * W;
                const double c = mk == -INFINITY ? 0.0 : std::exp(mk - M);
                L += c * st[0];
                for (int64_t d = 0; d < D; ++d) S[d] += c * st[2 + d];
                if (st[1] != 0.0f)
                    for (int64_t d = 0; d < D; ++d) r[d] = st[2 + D + d];
            }
            // As the fused kernel's finalize: u in float, r = u - e_y in float, the sums in double.
            double loss = 0, ru = 0;
            for (int64_t d = 0; d < D; ++d) {
                const float ud = (float)(S[d] / L);
                const float rd = ud - r[d];
                loss += (double)rd * rd;
                ru += (double)rd * ud;
                if (ee) ee[d] = ud;
                r[d] = rd;
            }
            m->loss_rows[n] = (float)loss;
            m->row_max[n] = (float)M;
            m->row_log_sumexp[n] = (float)std::log(L);
            m->residual_dot_expected[n] = (float)ru;
        }
    }
    if (oom) return fail(TASFT_OUT_OF_MEMORY, "%s: cannot allocate the per-thread workspace", fn);
    return TASFT_OK;
}

extern "C" int tasft_emd_vp_rescale_cpu(int64_t rows, int64_t dim, const float* slice_max, const float* global_max,
                                        float* slice_stats) {
    using namespace tasft;
    clear_error();
    if (int st = check_rescale(rows, dim, slice_max, global_max, slice_stats, "tasft_emd_vp_rescale_cpu")) return st;
    const int64_t W = TASFT_EMD_VP_STATS(dim);
#pragma omp parallel for schedule(static) num_threads(threads_to_use()) if (rows * W > 65536)
    for (int64_t n = 0; n < rows; ++n) {
        const double m = slice_max[n];
        const float c = m == -INFINITY ? 0.0f : (float)std::exp(m - (double)global_max[n]);
        float* st = slice_stats + n * W;
        st[0] *= c;
        for (int64_t d = 0; d < dim; ++d) st[2 + d] *= c;
    }
    return TASFT_OK;
}

extern "C" void tasft_cpu_set_num_threads(int n) { tasft::g_threads.store(n > 0 ? n : 0); }
extern "C" int tasft_cpu_get_num_threads(void) { return tasft::threads_to_use(); }

extern "C" const char* tasft_cpu_isa(void) {
    int isa = TASFT_CPU_ISA_GENERIC;
    char why[160];
    tasft::resolve_cpu_isa(TASFT_CPU_ISA_DEFAULT, tasft::cpu_features(), std::getenv("TASFT_CPU_ISA"), &isa, why,
                           sizeof why);  // DEFAULT always resolves
    return tasft::cpu_isa_name(isa);
}

extern "C" int tasft_cpu_isa_available(int cpu_isa) {
    return cpu_isa == TASFT_CPU_ISA_DEFAULT || tasft::cpu_isa_runs(cpu_isa, tasft::cpu_features()) ? 1 : 0;
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
