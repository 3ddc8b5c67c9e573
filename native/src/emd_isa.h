// The choice of the CPU kernel's instruction set (tasft_emd_variant.cpu_isa), as a pure function of the request,
// the CPU's features and the TASFT_CPU_ISA variable, so the native tests can check every branch on any CPU.
// Header-only; included by emd_cpu.cpp and native/tests/test_emd_cpu.cpp, not by the per-ISA kernel files.
#ifndef TASFT_EMD_ISA_H
#define TASFT_EMD_ISA_H

#include <cstddef>
#include <cstdio>
#include <cstring>

#include "tasft/emd.h"

namespace tasft {

struct CpuFeatures {
    bool avx2 = false;    // AVX2 + FMA + F16C
    bool avx512 = false;  // AVX-512 F, VL, BW, DQ
};

inline const char* cpu_isa_name(int isa) {
    switch (isa) {
        case TASFT_CPU_ISA_DEFAULT: return "default";
        case TASFT_CPU_ISA_GENERIC: return "generic";
        case TASFT_CPU_ISA_AVX2: return "avx2";
        case TASFT_CPU_ISA_AVX512: return "avx512";
    }
    return "?";
}

inline bool cpu_isa_runs(int isa, CpuFeatures have) {
    return isa == TASFT_CPU_ISA_GENERIC || (isa == TASFT_CPU_ISA_AVX2 && have.avx2) ||
           (isa == TASFT_CPU_ISA_AVX512 && have.avx512);
}

// Sets *isa to the instruction set to run (GENERIC, AVX2 or AVX512) and returns TASFT_OK, or returns
// TASFT_INVALID_ARGUMENT / TASFT_UNSUPPORTED with the reason in `why`. DEFAULT is the widest the CPU has, narrowed by
// `env` (TASFT_CPU_ISA, may be NULL) = "generic" or "avx2" where the CPU has it; other values of the variable are
// ignored, as they always were. An explicit choice the CPU lacks is refused, never replaced by another.
inline int resolve_cpu_isa(int requested, CpuFeatures have, const char* env, int* isa, char* why, size_t why_size) {
    if (requested == TASFT_CPU_ISA_DEFAULT) {
        if (env && std::strcmp(env, "generic") == 0) *isa = TASFT_CPU_ISA_GENERIC;
        else if (env && std::strcmp(env, "avx2") == 0 && have.avx2) *isa = TASFT_CPU_ISA_AVX2;
        else *isa = have.avx512 ? TASFT_CPU_ISA_AVX512 : have.avx2 ? TASFT_CPU_ISA_AVX2 : TASFT_CPU_ISA_GENERIC;
        return TASFT_OK;
    }
    if (requested < TASFT_CPU_ISA_GENERIC || requested > TASFT_CPU_ISA_AVX512) {
        std::snprintf(why, why_size, "cpu_isa %d is not a tasft_cpu_isa_id (0 default, 1 generic, 2 avx2, 3 avx512)",
                      requested);
        return TASFT_INVALID_ARGUMENT;
    }
    if (!cpu_isa_runs(requested, have)) {
        std::snprintf(why, why_size, "cpu_isa %s is not available on this CPU (it has %s)", cpu_isa_name(requested),
                      have.avx512 ? "generic, avx2, avx512" : have.avx2 ? "generic, avx2" : "generic");
        return TASFT_UNSUPPORTED;
    }
    *isa = requested;
    return TASFT_OK;
}

}  // namespace tasft

#endif
