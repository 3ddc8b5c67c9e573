// The skipping mode's settings as the kernels see them (tasft_emd_skip, checked). Only a plain struct: this header is
// included by the per-instruction-set CPU kernels, which must not pull in inline functions (see emd_cpu_kernel.inc).
#ifndef TASFT_EMD_SKIP_H
#define TASFT_EMD_SKIP_H

namespace tasft {

struct SkipOut {
    float threshold = 0.0f;           // 0: the exact kernel
    float* loss_error_bound = nullptr;  // [rows] or NULL
    float* skipped_mass = nullptr;      // [rows] or NULL
};

}  // namespace tasft

#endif
