// Argument checks and error reporting shared by every entry point.
#include <cstdarg>
#include <cstdio>
#include <cinttypes>
#include "emd_internal.h"

namespace tasft {

static thread_local char g_error[512];

int fail(int status, const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    std::vsnprintf(g_error, sizeof g_error, fmt, ap);
    va_end(ap);
    return status;
}

void clear_error() { g_error[0] = '\0'; }

int check_shapes(const tasft_emd_args* a, const char* fn, bool needs_loss_rows) {
    if (!a) return fail(TASFT_INVALID_ARGUMENT, "%s: args is NULL", fn);
    if (a->rows < 0) return fail(TASFT_INVALID_ARGUMENT, "%s: rows must be >= 0, got %" PRId64, fn, a->rows);
    if (a->vocab <= 0) return fail(TASFT_INVALID_ARGUMENT, "%s: vocab must be > 0, got %" PRId64, fn, a->vocab);
    if (a->dim <= 0) return fail(TASFT_INVALID_ARGUMENT, "%s: dim must be > 0, got %" PRId64, fn, a->dim);
    if (a->logits_row_stride < a->vocab)
        return fail(TASFT_INVALID_ARGUMENT, "%s: logits_row_stride (%" PRId64 ") must be >= vocab (%" PRId64 ")", fn,
                    a->logits_row_stride, a->vocab);
    if (!valid_dtype(a->logits_dtype))
        return fail(TASFT_INVALID_ARGUMENT, "%s: logits_dtype %d is not a tasft_dtype (0 float32, 1 bfloat16, 2 float16)",
                    fn, a->logits_dtype);
    if (!valid_dtype(a->embedding_dtype))
        return fail(TASFT_INVALID_ARGUMENT,
                    "%s: embedding_dtype %d is not a tasft_dtype (0 float32, 1 bfloat16, 2 float16)", fn,
                    a->embedding_dtype);
    if (!a->unit_embedding) return fail(TASFT_INVALID_ARGUMENT, "%s: unit_embedding is NULL", fn);
    if (a->rows > 0) {
        if (!a->logits) return fail(TASFT_INVALID_ARGUMENT, "%s: logits is NULL", fn);
        if (!a->targets) return fail(TASFT_INVALID_ARGUMENT, "%s: targets is NULL", fn);
        if (needs_loss_rows && !a->loss_rows) return fail(TASFT_INVALID_ARGUMENT, "%s: loss_rows is NULL", fn);
    }
    // Sizes whose byte counts overflow int64 cannot describe real buffers.
    const int64_t lim = INT64_MAX / 8;
    if (a->vocab > lim / a->dim) return fail(TASFT_INVALID_ARGUMENT, "%s: vocab * dim overflows", fn);
    if (a->rows > 0 && a->logits_row_stride > lim / a->rows)
        return fail(TASFT_INVALID_ARGUMENT, "%s: rows * logits_row_stride overflows", fn);
    if (a->rows > 0 && a->dim > lim / a->rows) return fail(TASFT_INVALID_ARGUMENT, "%s: rows * dim overflows", fn);
    return TASFT_OK;
}

int check_skip(const tasft_emd_skip* skip, const char* fn) {
    if (skip && !(skip->threshold >= 0.0f && skip->threshold <= 1.0f))
        return fail(TASFT_INVALID_ARGUMENT, "%s: skip->threshold must be in [0, 1], got %g", fn, (double)skip->threshold);
    return TASFT_OK;
}

int check_variant(const tasft_emd_variant* v, const char* fn) {
    if (!v) return TASFT_OK;
    if (v->cpu_isa < TASFT_CPU_ISA_DEFAULT || v->cpu_isa > TASFT_CPU_ISA_AVX512)
        return fail(TASFT_INVALID_ARGUMENT,
                    "%s: variant->cpu_isa %d is not a tasft_cpu_isa_id (0 default, 1 generic, 2 avx2, 3 avx512)", fn,
                    v->cpu_isa);
    if (v->cuda_kernel < TASFT_CUDA_KERNEL_AUTO || v->cuda_kernel > TASFT_CUDA_KERNEL_V3)
        return fail(TASFT_INVALID_ARGUMENT,
                    "%s: variant->cuda_kernel %d is not a tasft_cuda_kernel_id (0 auto, 1 v1, 2 v2, 3 v3)", fn,
                    v->cuda_kernel);
    return TASFT_OK;
}

int check_targets(const int64_t* t, int64_t rows, int64_t vocab, int64_t ignore, const char* fn) {
    for (int64_t n = 0; n < rows; ++n) {
        if (t[n] != ignore && (t[n] < 0 || t[n] >= vocab))
            return fail(TASFT_INVALID_ARGUMENT,
                        "%s: targets[%" PRId64 "] = %" PRId64 " is outside [0, %" PRId64 ") and is not ignore_index (%" PRId64 ")",
                        fn, n, t[n], vocab, ignore);
    }
    return TASFT_OK;
}

int check_slice(const tasft_emd_vp_slice_args* s, bool backward, const char* fn, tasft_emd_args* view) {
    if (!s) return fail(TASFT_INVALID_ARGUMENT, "%s: args is NULL", fn);
    tasft_emd_args a{};
    a.logits = s->logits;
    a.logits_dtype = s->logits_dtype;
    a.rows = s->rows;
    a.vocab = s->vocab;
    a.logits_row_stride = s->logits_row_stride;
    a.unit_embedding = s->unit_embedding;
    a.embedding_dtype = s->embedding_dtype;
    a.dim = s->dim;
    a.targets = s->targets;
    a.ignore_index = s->ignore_index;
    a.grad_scale = s->grad_scale;
    a.grad_logits = backward ? s->grad_logits : nullptr;
    a.cuda_stream = s->cuda_stream;
    if (int st = check_shapes(&a, fn, false)) return st;
    if (s->vocab_start < 0)
        return fail(TASFT_INVALID_ARGUMENT, "%s: vocab_start must be >= 0, got %" PRId64, fn, s->vocab_start);
    if (s->vocab_total < s->vocab || s->vocab_start > s->vocab_total - s->vocab)
        return fail(TASFT_INVALID_ARGUMENT,
                    "%s: the slice [vocab_start, vocab_start + vocab) = [%" PRId64 ", %" PRId64
                    ") is not inside [0, vocab_total) = [0, %" PRId64 ")",
                    fn, s->vocab_start, s->vocab_start + s->vocab, s->vocab_total);
    if (s->rows > 0) {
        if (!backward) {
            if (!s->slice_max) return fail(TASFT_INVALID_ARGUMENT, "%s: slice_max is NULL", fn);
            if (!s->slice_stats) return fail(TASFT_INVALID_ARGUMENT, "%s: slice_stats is NULL", fn);
        } else {
            if (!s->row_max) return fail(TASFT_INVALID_ARGUMENT, "%s: row_max is NULL", fn);
            if (!s->row_log_sumexp) return fail(TASFT_INVALID_ARGUMENT, "%s: row_log_sumexp is NULL", fn);
            if (!s->residual) return fail(TASFT_INVALID_ARGUMENT, "%s: residual is NULL", fn);
            if (!s->residual_dot_expected)
                return fail(TASFT_INVALID_ARGUMENT, "%s: residual_dot_expected is NULL", fn);
            if (!s->grad_logits) return fail(TASFT_INVALID_ARGUMENT, "%s: grad_logits is NULL", fn);
        }
    }
    if (s->rows > 0 && TASFT_EMD_VP_STATS(s->dim) > (INT64_MAX / 8) / s->rows)
        return fail(TASFT_INVALID_ARGUMENT, "%s: rows * TASFT_EMD_VP_STATS(dim) overflows", fn);
    *view = a;
    return TASFT_OK;
}

int check_merge(const tasft_emd_vp_merge_args* m, const char* fn) {
    if (!m) return fail(TASFT_INVALID_ARGUMENT, "%s: args is NULL", fn);
    if (m->slices < 1) return fail(TASFT_INVALID_ARGUMENT, "%s: slices must be >= 1, got %" PRId64, fn, m->slices);
    if (m->rows < 0) return fail(TASFT_INVALID_ARGUMENT, "%s: rows must be >= 0, got %" PRId64, fn, m->rows);
    if (m->dim <= 0) return fail(TASFT_INVALID_ARGUMENT, "%s: dim must be > 0, got %" PRId64, fn, m->dim);
    const int64_t lim = INT64_MAX / 8;
    if (m->dim > lim / 4) return fail(TASFT_INVALID_ARGUMENT, "%s: dim is too large", fn);
    if (m->rows > 0 && (m->slices > lim / m->rows || TASFT_EMD_VP_STATS(m->dim) > lim / (m->slices * m->rows)))
        return fail(TASFT_INVALID_ARGUMENT, "%s: slices * rows * TASFT_EMD_VP_STATS(dim) overflows", fn);
    if (m->rows == 0) return TASFT_OK;
    const struct { const void* p; const char* name; } required[] = {
        {m->slice_max, "slice_max"}, {m->slice_stats, "slice_stats"}, {m->targets, "targets"},
        {m->loss_rows, "loss_rows"}, {m->row_max, "row_max"}, {m->row_log_sumexp, "row_log_sumexp"},
        {m->residual, "residual"}, {m->residual_dot_expected, "residual_dot_expected"}};
    for (const auto& r : required)
        if (!r.p) return fail(TASFT_INVALID_ARGUMENT, "%s: %s is NULL", fn, r.name);
    return TASFT_OK;
}

int check_rescale(int64_t rows, int64_t dim, const float* slice_max, const float* global_max,
                  const float* slice_stats, const char* fn) {
    if (rows < 0) return fail(TASFT_INVALID_ARGUMENT, "%s: rows must be >= 0, got %" PRId64, fn, rows);
    if (dim <= 0) return fail(TASFT_INVALID_ARGUMENT, "%s: dim must be > 0, got %" PRId64, fn, dim);
    if (dim > INT64_MAX / 32) return fail(TASFT_INVALID_ARGUMENT, "%s: dim is too large", fn);
    if (rows > 0 && TASFT_EMD_VP_STATS(dim) > (INT64_MAX / 8) / rows)
        return fail(TASFT_INVALID_ARGUMENT, "%s: rows * TASFT_EMD_VP_STATS(dim) overflows", fn);
    if (rows == 0) return TASFT_OK;
    if (!slice_max) return fail(TASFT_INVALID_ARGUMENT, "%s: slice_max is NULL", fn);
    if (!global_max) return fail(TASFT_INVALID_ARGUMENT, "%s: global_max is NULL", fn);
    if (!slice_stats) return fail(TASFT_INVALID_ARGUMENT, "%s: slice_stats is NULL", fn);
    return TASFT_OK;
}

}  // namespace tasft

extern "C" const char* tasft_last_error(void) { return tasft::g_error; }
