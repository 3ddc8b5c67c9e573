// Device helpers and host-side error handling shared by the CUDA entry points (emd_cuda.cu: v1, emd_cuda_v2.cu: v2,
// emd_vp_cuda.cu).
#ifndef TASFT_EMD_CUDA_COMMON_CUH
#define TASFT_EMD_CUDA_COMMON_CUH

#include <cuda_runtime.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "emd_internal.h"
#include "emd_skip.h"

namespace tasft {
namespace {

constexpr int kBlock = 256;  // threads per block (a multiple of 32)
constexpr int kWarps = kBlock / 32;

// ---------- dtype conversions (device) ----------
__device__ __forceinline__ float to_float(float x) { return x; }
__device__ __forceinline__ float to_float(__nv_bfloat16 x) { return __bfloat162float(x); }
__device__ __forceinline__ float to_float(__half x) { return __half2float(x); }

template <typename T> __device__ __forceinline__ T from_float(float x);
template <> __device__ __forceinline__ float from_float<float>(float x) { return x; }
template <> __device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float x) { return __float2bfloat16_rn(x); }
template <> __device__ __forceinline__ __half from_float<__half>(float x) { return __float2half_rn(x); }

// ---------- reductions ----------
struct SumOp {
    __device__ float operator()(float a, float b) const { return a + b; }
    static constexpr float identity = 0.0f;
};
struct MaxOp {
    // fmaxf drops a NaN operand; a NaN logit still poisons the row through the sum of exponentials.
    __device__ float operator()(float a, float b) const { return fmaxf(a, b); }
    static constexpr float identity = -INFINITY;
};

template <typename Op>
__device__ __forceinline__ float warp_reduce(float x, Op op) {
    for (int off = 16; off > 0; off >>= 1) x = op(x, __shfl_xor_sync(0xffffffffu, x, off));
    return x;
}

// Every thread of the block must call it (it synchronises). `red` is shared memory of kWarps + 1 floats; the last
// __syncthreads makes sure everyone has read the result before `red` is used again.
template <typename Op>
__device__ float block_reduce(float x, Op op, float* red) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    x = warp_reduce(x, op);
    if (lane == 0) red[warp] = x;
    __syncthreads();
    if (warp == 0) {
        float y = lane < kWarps ? red[lane] : Op::identity;
        y = warp_reduce(y, op);
        if (lane == 0) red[kWarps] = y;
    }
    __syncthreads();
    const float result = red[kWarps];
    __syncthreads();
    return result;
}

// r . x over dim with the lanes of one warp splitting d; every lane gets the result. The summation order depends only
// on dim, so r . u and r . e_v are rounded alike.
template <typename T>
__device__ __forceinline__ float warp_dot(const float* r, const T* x, int64_t dim, int lane) {
    float acc = 0.0f;
    for (int64_t d = lane; d < dim; d += 32) acc += r[d] * to_float(x[d]);
    return warp_reduce(acc, SumOp());
}

// ---------- host side ----------

int cuda_fail(cudaError_t err, const char* fn, const char* what) {
    cudaGetLastError();  // do not leave a (non-sticky) error behind for the caller's next check
    return fail(TASFT_CUDA_ERROR, "%s: %s failed: %s (%s)", fn, what, cudaGetErrorString(err), cudaGetErrorName(err));
}

// Fails with TASFT_CUDA_ERROR when no driver or no device is usable.
int check_device(const char* fn) {
    int count = 0;
    const cudaError_t err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess) {
        cudaGetLastError();
        return fail(TASFT_CUDA_ERROR, "%s: no usable CUDA device (cudaGetDeviceCount: %s)", fn, cudaGetErrorString(err));
    }
    if (count <= 0) return fail(TASFT_CUDA_ERROR, "%s: no CUDA device found", fn);
    return TASFT_OK;
}

// Stream-ordered device allocation with the library's error messages (TASFT_OUT_OF_MEMORY when it does not fit).
int device_alloc(void** ptr, size_t bytes, cudaStream_t stream, const char* fn) {
    const cudaError_t err = cudaMallocAsync(ptr, bytes, stream);
    if (err == cudaErrorMemoryAllocation) {
        cudaGetLastError();
        return fail(TASFT_OUT_OF_MEMORY, "%s: cannot allocate the %zu-byte workspace on the device (cudaMallocAsync: %s)",
                    fn, bytes, cudaGetErrorString(err));
    }
    if (err != cudaSuccess) return cuda_fail(err, fn, "cudaMallocAsync of the workspace");
    return TASFT_OK;
}

}  // namespace

namespace cuda {
// v2 (emd_cuda_v2.cu). v2_supports answers TASFT_UNSUPPORTED, with the reason as the error message, when v2 cannot
// run this call (embedding not bf16, device older than sm_80, grids too large); launch_v2 checks it too, and touches
// nothing then.
int v2_supports(const tasft_emd_args* a, const char* fn);
int launch_v2(const tasft_emd_args* a, const SkipOut& sk, cudaStream_t stream, const char* fn);
// v3 (emd_cuda_v3.cu): wgmma + TMA on sm_90a. Same contract as v2: v3_supports answers TASFT_UNSUPPORTED with the
// reason (not an sm_90 device or a library without sm_90a code, dtypes, alignment, skipping) and touches nothing.
int v3_supports(const tasft_emd_args* a, const SkipOut& sk, const char* fn);
int launch_v3(const tasft_emd_args* a, const SkipOut& sk, cudaStream_t stream, const char* fn);
// Whether v3 has been validated on a GPU (tests and sanitizers green, bench/RESULTS.md): until then the automatic
// choice never picks it, and only an explicit TASFT_CUDA_KERNEL_V3 runs it.
bool v3_validated();
}  // namespace cuda

}  // namespace tasft

#endif
