// The choice of the CUDA kernel version (tasft_emd_variant.cuda_kernel), as a pure function of the request, the
// call's dtypes, the TASFT_CUDA_KERNEL variable and what each version says about the call, so the native tests can
// check every branch on any machine, with or without a GPU (test_emd_cpu.cpp's cuda_kernel_choice).
// Header-only and host-only (no CUDA headers); included by emd_cuda.cu and native/tests/test_emd_cpu.cpp.
#ifndef TASFT_EMD_CUDA_CHOICE_H
#define TASFT_EMD_CUDA_CHOICE_H

#include <cstddef>
#include <cstdio>
#include <cstring>

#include "tasft/emd.h"

namespace tasft {

inline const char* cuda_kernel_name(int kernel) {
    switch (kernel) {
        case TASFT_CUDA_KERNEL_AUTO: return "auto";
        case TASFT_CUDA_KERNEL_V1: return "v1";
        case TASFT_CUDA_KERNEL_V2: return "v2";
        case TASFT_CUDA_KERNEL_V3: return "v3";
    }
    return "?";
}

// The value of TASFT_CUDA_KERNEL (NULL when unset): *kernel = AUTO (unset, empty or "auto"), V1, V2 or V3, and
// TASFT_OK; anything else is TASFT_INVALID_ARGUMENT with the one-line reason in `why`.
inline int parse_cuda_kernel_env(const char* env, int* kernel, char* why, size_t why_size) {
    if (!env || !*env || std::strcmp(env, "auto") == 0) {
        *kernel = TASFT_CUDA_KERNEL_AUTO;
        return TASFT_OK;
    }
    for (int k = TASFT_CUDA_KERNEL_V1; k <= TASFT_CUDA_KERNEL_V3; ++k)
        if (std::strcmp(env, cuda_kernel_name(k)) == 0) {
            *kernel = k;
            return TASFT_OK;
        }
    std::snprintf(why, why_size, "the environment variable TASFT_CUDA_KERNEL='%.40s%s' is not auto, v1, v2 or v3", env,
                  std::strlen(env) > 40 ? "..." : "");
    return TASFT_INVALID_ARGUMENT;
}

// Sets *kernel to the version that runs (V1, V2 or V3) and returns TASFT_OK, or returns the failure:
//   TASFT_INVALID_ARGUMENT with the reason in `why`: `requested` is not a tasft_cuda_kernel_id, or it is AUTO and
//     `env` (TASFT_CUDA_KERNEL, may be NULL) is not a valid value;
//   what `supports` answered, `why` left empty: an explicit V2 / V3 that cannot run the call (TASFT_UNSUPPORTED), or
//     any status other than OK / UNSUPPORTED while AUTO asked a version (a CUDA error).
// `supports(k)` (k = V2 or V3) answers TASFT_OK when version k can run this call on this device, TASFT_UNSUPPORTED
// (its reason in the library's error message) when not, or another failure; it is asked only where the rule needs it.
// Explicit versions ignore `env`. The AUTO rule (documented in tasft/emd.h; decided here and nowhere else):
//   1. env names vN and version N can run the call: vN (the user's override, v3 even before v3_validated);
//   2. v3 when v3_validated and v3 can run the call;
//   3. v2 when the logits are bf16 or fp16, the embedding is bf16 and v2 can run the call (v2 rounds p and r to bf16
//      for the tensor cores: fp32 logits keep v1's fp32 arithmetic);
//   4. v1, which runs every call.
template <class Supports>
int choose_cuda_kernel(int requested, const char* env, int logits_dtype, int embedding_dtype, bool v3_validated,
                       Supports&& supports, int* kernel, char* why, size_t why_size) {
    if (why_size) why[0] = '\0';
    if (requested < TASFT_CUDA_KERNEL_AUTO || requested > TASFT_CUDA_KERNEL_V3) {
        std::snprintf(why, why_size, "cuda_kernel %d is not a tasft_cuda_kernel_id (0 auto, 1 v1, 2 v2, 3 v3)",
                      requested);
        return TASFT_INVALID_ARGUMENT;
    }
    if (requested == TASFT_CUDA_KERNEL_V1) {
        *kernel = TASFT_CUDA_KERNEL_V1;
        return TASFT_OK;
    }
    if (requested != TASFT_CUDA_KERNEL_AUTO) {  // an explicit v2 / v3: run it or say why not
        const int st = supports(requested);
        if (st == TASFT_OK) *kernel = requested;
        return st;
    }
    int preferred = TASFT_CUDA_KERNEL_AUTO;
    if (int st = parse_cuda_kernel_env(env, &preferred, why, why_size)) return st;
    // AUTO: try each candidate in order; UNSUPPORTED moves on, any other failure is the call's failure.
    auto try_kernel = [&](int k, bool* chosen) {
        *chosen = false;
        if (k == TASFT_CUDA_KERNEL_V1) {
            *chosen = true;
        } else {
            const int st = supports(k);
            if (st != TASFT_OK && st != TASFT_UNSUPPORTED) return st;
            *chosen = st == TASFT_OK;
        }
        if (*chosen) *kernel = k;
        return (int)TASFT_OK;
    };
    bool chosen = false;
    if (preferred != TASFT_CUDA_KERNEL_AUTO) {
        if (int st = try_kernel(preferred, &chosen)) return st;
        if (chosen) return TASFT_OK;
    }
    if (v3_validated && preferred != TASFT_CUDA_KERNEL_V3) {
        if (int st = try_kernel(TASFT_CUDA_KERNEL_V3, &chosen)) return st;
        if (chosen) return TASFT_OK;
    }
    const bool low_precision_logits = logits_dtype == TASFT_BFLOAT16 || logits_dtype == TASFT_FLOAT16;
    if (low_precision_logits && embedding_dtype == TASFT_BFLOAT16 && preferred != TASFT_CUDA_KERNEL_V2) {
        if (int st = try_kernel(TASFT_CUDA_KERNEL_V2, &chosen)) return st;
        if (chosen) return TASFT_OK;
    }
    *kernel = TASFT_CUDA_KERNEL_V1;
    return TASFT_OK;
}

}  // namespace tasft

#endif
