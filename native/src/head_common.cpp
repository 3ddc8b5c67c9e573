// Argument checks of the fused LM head (tasft_head_cpu, tasft_head_cuda).
#include <cinttypes>
#include "emd_internal.h"

namespace tasft {

int check_head(const tasft_head_args* a, const char* fn) {
    if (!a) return fail(TASFT_INVALID_ARGUMENT, "%s: args is NULL", fn);
    if (a->rows < 0) return fail(TASFT_INVALID_ARGUMENT, "%s: rows must be >= 0, got %" PRId64, fn, a->rows);
    if (a->vocab <= 0) return fail(TASFT_INVALID_ARGUMENT, "%s: vocab must be > 0, got %" PRId64, fn, a->vocab);
    if (a->hidden_dim <= 0)
        return fail(TASFT_INVALID_ARGUMENT, "%s: hidden_dim must be > 0, got %" PRId64, fn, a->hidden_dim);
    if (a->hidden_row_stride < a->hidden_dim)
        return fail(TASFT_INVALID_ARGUMENT, "%s: hidden_row_stride (%" PRId64 ") must be >= hidden_dim (%" PRId64 ")",
                    fn, a->hidden_row_stride, a->hidden_dim);
    const struct { int dtype; const char* name; } dtypes[] = {
        {a->hidden_dtype, "hidden_dtype"}, {a->weight_dtype, "weight_dtype"}};
    for (const auto& d : dtypes)
        if (!valid_dtype(d.dtype))
            return fail(TASFT_INVALID_ARGUMENT, "%s: %s %d is not a tasft_dtype (0 float32, 1 bfloat16, 2 float16)", fn,
                        d.name, d.dtype);
    if (!a->weight) return fail(TASFT_INVALID_ARGUMENT, "%s: weight is NULL", fn);
    if (a->unit_embedding) {
        if (a->dim <= 0)
            return fail(TASFT_INVALID_ARGUMENT, "%s: dim must be > 0 when unit_embedding is given, got %" PRId64, fn,
                        a->dim);
        if (!valid_dtype(a->embedding_dtype))
            return fail(TASFT_INVALID_ARGUMENT,
                        "%s: embedding_dtype %d is not a tasft_dtype (0 float32, 1 bfloat16, 2 float16)", fn,
                        a->embedding_dtype);
    }
    if (a->rows > 0) {
        const struct { const void* p; const char* name; } required[] = {
            {a->hidden, "hidden"}, {a->targets, "targets"}, {a->roles, "roles"}, {a->loss_rows, "loss_rows"}};
        for (const auto& r : required)
            if (!r.p) return fail(TASFT_INVALID_ARGUMENT, "%s: %s is NULL", fn, r.name);
    }
    const int64_t lim = INT64_MAX / 16;
    if (a->vocab > lim / a->hidden_dim) return fail(TASFT_INVALID_ARGUMENT, "%s: vocab * hidden_dim overflows", fn);
    if (a->unit_embedding && a->vocab > lim / a->dim)
        return fail(TASFT_INVALID_ARGUMENT, "%s: vocab * dim overflows", fn);
    if (a->rows > 0 && a->hidden_row_stride > lim / a->rows)
        return fail(TASFT_INVALID_ARGUMENT, "%s: rows * hidden_row_stride overflows", fn);
    if (!(a->ce_grad_scale == a->ce_grad_scale) || !(a->emd_grad_scale == a->emd_grad_scale))
        return fail(TASFT_INVALID_ARGUMENT, "%s: ce_grad_scale and emd_grad_scale must not be NaN", fn);
    return TASFT_OK;
}

int check_head_rows(const tasft_head_args* a, const int8_t* roles, const int64_t* targets, const char* fn) {
    for (int64_t n = 0; n < a->rows; ++n) {
        const int role = roles[n];
        if (role != TASFT_HEAD_IGNORE && role != TASFT_HEAD_CE && role != TASFT_HEAD_EMD)
            return fail(TASFT_INVALID_ARGUMENT,
                        "%s: roles[%" PRId64 "] = %d is not a tasft_head_role (0 ignore, 1 ce, 2 emd)", fn, n, role);
        if (role == TASFT_HEAD_IGNORE || targets[n] == a->ignore_index) continue;
        if (targets[n] < 0 || targets[n] >= a->vocab)
            return fail(TASFT_INVALID_ARGUMENT,
                        "%s: targets[%" PRId64 "] = %" PRId64 " is outside [0, %" PRId64
                        ") and is not ignore_index (%" PRId64 ")",
                        fn, n, targets[n], a->vocab, a->ignore_index);
        if (role == TASFT_HEAD_EMD && !a->unit_embedding)
            return fail(TASFT_INVALID_ARGUMENT, "%s: roles[%" PRId64 "] is EMD but unit_embedding is NULL", fn, n);
    }
    return TASFT_OK;
}

}  // namespace tasft
