// v3 of the CUDA kernel (issue 11): wgmma + TMA on sm_90a. Work in progress: this placeholder refuses every call,
// so the dispatch and the API can be built against it while the kernels are written.
#include "emd_cuda_common.cuh"

namespace tasft {
namespace cuda {

int v3_supports(const tasft_emd_args*, const SkipOut&, const char* fn) {
    return fail(TASFT_UNSUPPORTED, "%s: cuda_kernel v3 is not built into this library yet", fn);
}

int launch_v3(const tasft_emd_args* a, const SkipOut& sk, cudaStream_t, const char* fn) {
    return v3_supports(a, sk, fn);
}

bool v3_validated() { return false; }

}  // namespace cuda
}  // namespace tasft
