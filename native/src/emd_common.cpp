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

int check_shapes(const tasft_emd_args* a, const char* fn) {
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
        if (!a->loss_rows) return fail(TASFT_INVALID_ARGUMENT, "%s: loss_rows is NULL", fn);
    }
    // Sizes whose byte counts overflow int64 cannot describe real buffers.
    const int64_t lim = INT64_MAX / 8;
    if (a->vocab > lim / a->dim) return fail(TASFT_INVALID_ARGUMENT, "%s: vocab * dim overflows", fn);
    if (a->rows > 0 && a->logits_row_stride > lim / a->rows)
        return fail(TASFT_INVALID_ARGUMENT, "%s: rows * logits_row_stride overflows", fn);
    if (a->rows > 0 && a->dim > lim / a->rows) return fail(TASFT_INVALID_ARGUMENT, "%s: rows * dim overflows", fn);
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

}  // namespace tasft

extern "C" const char* tasft_last_error(void) { return tasft::g_error; }
