// tasft_head_cpu: argument checks, ignored rows, the instruction set; the kernel is head_cpu_kernel.inc.
#include <cstdlib>
#include <cstring>
#include <new>
#include <vector>

#include "emd_internal.h"

namespace tasft {
namespace generic { int head_run(const tasft_head_args*, const int64_t*, int64_t, int); }
#if defined(__x86_64__)
namespace avx2 { int head_run(const tasft_head_args*, const int64_t*, int64_t, int); }
namespace avx512 { int head_run(const tasft_head_args*, const int64_t*, int64_t, int); }
#endif

namespace {
int head_cpu(const tasft_head_args* a, const tasft_emd_variant* variant, const char* fn) {
    clear_error();
    if (int st = check_head(a, fn)) return st;
    int isa = TASFT_CPU_ISA_GENERIC;
    if (int st = pick_cpu_isa(variant, fn, &isa)) return st;
    if (a->rows == 0) return TASFT_OK;
    if (int st = check_head_rows(a, a->roles, a->targets, fn)) return st;
    std::vector<int64_t> active;
    try {
        active.reserve((size_t)a->rows);
    } catch (const std::bad_alloc&) {
        return fail(TASFT_OUT_OF_MEMORY, "%s: cannot allocate the row list", fn);
    }
    for (int64_t n = 0; n < a->rows; ++n) {
        if (head_row_active(a, a->roles[n], a->targets[n])) {
            active.push_back(n);
            continue;
        }
        a->loss_rows[n] = 0.0f;
        if (a->grad_hidden) std::memset(a->grad_hidden + n * a->hidden_dim, 0, (size_t)a->hidden_dim * 4);
    }
    auto run = generic::head_run;
#if defined(__x86_64__)
    if (isa == TASFT_CPU_ISA_AVX512) run = avx512::head_run;
    if (isa == TASFT_CPU_ISA_AVX2) run = avx2::head_run;
#endif
    const int st = run(a, active.data(), (int64_t)active.size(), cpu_threads());
    if (st == TASFT_OUT_OF_MEMORY) return fail(st, "%s: cannot allocate the workspace", fn);
    return st;
}
}  // namespace
}  // namespace tasft

extern "C" int tasft_head_cpu(const tasft_head_args* a) { return tasft::head_cpu(a, nullptr, "tasft_head_cpu"); }

extern "C" int tasft_head_cpu_variant(const tasft_head_args* a, const tasft_emd_variant* variant) {
    return tasft::head_cpu(a, variant, "tasft_head_cpu_variant");
}
