// Entry points of a build without CUDA: they answer TASFT_UNSUPPORTED with a message saying why.
#include "emd_internal.h"

extern "C" int tasft_emd_cuda(const tasft_emd_args*) {
    return tasft::fail(TASFT_UNSUPPORTED, "tasft_emd_cuda: libtasft was built without CUDA (nvcc not found or TASFT_CUDA=OFF)");
}
extern "C" int tasft_emd_cuda_async(const tasft_emd_args*) {
    return tasft::fail(TASFT_UNSUPPORTED,
                       "tasft_emd_cuda_async: libtasft was built without CUDA (nvcc not found or TASFT_CUDA=OFF)");
}
extern "C" int tasft_cuda_available(void) { return 0; }
