// What one call of a CPU kernel entry point (emd_cpu_kernel.inc, once per instruction set) does. Plain data only:
// the kernel file must not pull in inline functions (see the note there).
#ifndef TASFT_EMD_CPU_JOB_H
#define TASFT_EMD_CPU_JOB_H

#include <cstdint>
#include "tasft/emd.h"
#include "emd_skip.h"

namespace tasft {

enum class CpuMode {
    Fused,     // tasft_emd_cpu: forward, loss, backward
    Partial,   // tasft_emd_vp_partial_cpu: the forward's per-slice statistics, no normalisation
    Backward,  // tasft_emd_vp_backward_cpu: the backward from merged statistics
};

// `args` describes the rows, logits, embedding, targets and gradient in every mode (for the vocabulary-parallel
// modes: a view of the slice, with vocab = the slice's width). The rest is only read in its mode.
struct CpuJob {
    const tasft_emd_args* args;
    CpuMode mode;
    // Partial
    int64_t vocab_start;   // global id of column 0: the target y is in the slice when 0 <= y - vocab_start < vocab
    float* slice_max;      // [rows]
    float* slice_stats;    // [rows, TASFT_EMD_VP_STATS(dim)]
    // Fused: the skipping mode when skip.threshold > 0 (tasft_emd_cpu_skip)
    SkipOut skip;
    // Backward
    const float* row_max;
    const float* row_log_sumexp;
    const float* residual;
    const float* residual_dot_expected;
};

}  // namespace tasft

#endif
