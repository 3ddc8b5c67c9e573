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

#define TASFT_NO_CUDA(name) \
    tasft::fail(TASFT_UNSUPPORTED, name ": libtasft was built without CUDA (nvcc not found or TASFT_CUDA=OFF)")
extern "C" int tasft_emd_vp_partial_cuda(const tasft_emd_vp_slice_args*) {
    return TASFT_NO_CUDA("tasft_emd_vp_partial_cuda");
}
extern "C" int tasft_emd_vp_merge_cuda(const tasft_emd_vp_merge_args*) {
    return TASFT_NO_CUDA("tasft_emd_vp_merge_cuda");
}
extern "C" int tasft_emd_vp_backward_cuda(const tasft_emd_vp_slice_args*) {
    return TASFT_NO_CUDA("tasft_emd_vp_backward_cuda");
}
extern "C" int tasft_emd_vp_rescale_cuda(int64_t, int64_t, const float*, const float*, float*, void*) {
    return TASFT_NO_CUDA("tasft_emd_vp_rescale_cuda");
}
extern "C" int tasft_emd_cuda_skip(const tasft_emd_args*, const tasft_emd_skip*) {
    return TASFT_NO_CUDA("tasft_emd_cuda_skip");
}
extern "C" int tasft_emd_cuda_skip_async(const tasft_emd_args*, const tasft_emd_skip*) {
    return TASFT_NO_CUDA("tasft_emd_cuda_skip_async");
}
extern "C" int tasft_emd_cuda_variant(const tasft_emd_args*, const tasft_emd_skip*, const tasft_emd_variant*) {
    return TASFT_NO_CUDA("tasft_emd_cuda_variant");
}
extern "C" int tasft_emd_cuda_variant_async(const tasft_emd_args*, const tasft_emd_skip*, const tasft_emd_variant*) {
    return TASFT_NO_CUDA("tasft_emd_cuda_variant_async");
}
extern "C" int tasft_emd_cuda_kernel_choice(const tasft_emd_args*, const tasft_emd_skip*, const tasft_emd_variant*,
                                            int*) {
    return TASFT_NO_CUDA("tasft_emd_cuda_kernel_choice");
}
extern "C" const char* tasft_cuda_kernel(void) { return "none"; }
extern "C" int tasft_head_cuda(const tasft_head_args*) { return TASFT_NO_CUDA("tasft_head_cuda"); }
